// Building the pages' DOM without HTML strings (the CSP's Trusted Types forbid them), and the counters
// that tick every second.

export const $ = (id) => document.getElementById(id);

/**
 * An element: `props` sets `className`, `text` (textContent), `data` (dataset), `attrs` (attributes,
 * skipped when null) and any other property (`type`, `href`, `hidden`…); children are nodes or strings.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "data") for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    else if (key === "attrs") {
      for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    } else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A `<dl>` of `[term, value]` pairs; a value may be a node. */
export function pairs(list, className = "pairs") {
  const dl = el("dl", { className });
  for (const [term, value] of list) dl.append(el("dt", { text: term }), el("dd", {}, value));
  return dl;
}

/**
 * Elements with `data-since` (a Unix time in ms) show the time elapsed since then through `format`; one
 * timer for the whole page, so every counter moves on the same tick.
 */
export function startCounters(format) {
  const tick = () => {
    const now = Date.now();
    for (const node of document.querySelectorAll("[data-since]")) {
      const since = Number(node.dataset.since);
      if (Number.isFinite(since)) node.textContent = format(now - since);
    }
  };
  tick();
  return setInterval(tick, 1000);
}

/** A counter element for `startCounters`, already showing its value. */
export function counter(sinceMs, format, className = "counter") {
  if (typeof sinceMs !== "number") return el("span", { className, text: "–" });
  return el("span", { className, data: { since: sinceMs }, text: format(Date.now() - sinceMs) });
}

let noticeTimer = null;
/** A message in the page's `#notice` bar; `ok` ones go away by themselves. */
export function notice(text, kind = "ok") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (kind === "ok") noticeTimer = setTimeout(() => (box.hidden = true), 8000);
}

const CONNECTION = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  resyncing: "Reloading…",
  stopped: "Offline",
};

/** The event stream's state in the header's `#connection` pill. */
export function showConnection(status) {
  const pill = $("connection");
  pill.dataset.state = status;
  pill.textContent = CONNECTION[status] ?? status;
  pill.title = status === "live" ? "Following koe's events live" : "Not receiving koe's events right now";
}
