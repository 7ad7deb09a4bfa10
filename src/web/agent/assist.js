// What koe's assistant says about a call, drawn: suggested next actions, alerts and the caller's
// sentiment. Shared by the agent console and the supervisor's view.

import { el, pairs } from "./dom.js";
import { direction, mood, signed } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

/** The ranked suggestions; the top one open, the others a click (or Enter) away. */
export function renderSuggestions(list, suggestions) {
  // Keep what the agent opened or closed: a re-ranked list must not fold what they are reading.
  const open = new Map([...list.querySelectorAll("details[data-intent]")].map((d) => [d.dataset.intent, d.open]));
  list.replaceChildren(
    ...suggestions.map((s, i) => {
      const intent = String(s.intent ?? i);
      const details = el("details", { className: "suggestion", data: { intent } }, summaryOf(s), bodyOf(s));
      details.open = open.get(intent) ?? i === 0;
      return el("li", { data: { intent, rank: i + 1 } }, details);
    }),
  );
  if (suggestions.length === 0) list.append(el("li", { className: "muted empty", text: "Nothing suggested yet." }));
}

function summaryOf(s) {
  const confidence = Math.max(0, Math.min(1, Number(s.confidence) || 0));
  return el(
    "summary",
    {},
    el("span", { className: "s-title", text: s.title ?? s.intent ?? "" }),
    el("meter", {
      className: "confidence",
      min: 0,
      max: 1,
      value: confidence,
      title: `confidence ${Math.round(confidence * 100)} %`,
      attrs: { "aria-label": "confidence" },
    }),
    el("span", { className: "s-pct", text: `${Math.round(confidence * 100)} %` }),
  );
}

function bodyOf(s) {
  const body = el("div", { className: "s-body" });
  const words = Array.isArray(s.triggered_by) ? s.triggered_by : [];
  if (words.length > 0) {
    body.append(
      el("p", { className: "because" }, el("span", { className: "muted", text: "because: " }), ...words.flatMap((w, i) => [i ? " " : "", el("mark", { text: w })])),
    );
  }
  const steps = Array.isArray(s.next_steps) ? s.next_steps : [];
  if (steps.length > 0) body.append(el("h4", { text: "Next steps" }), el("ol", { className: "steps" }, ...steps.map((t) => el("li", { text: t }))));
  if (s.script) body.append(el("h4", { text: "Say" }), el("blockquote", { className: "script", text: s.script }));
  const data = Array.isArray(s.data_to_check) ? s.data_to_check : [];
  if (data.length > 0) {
    body.append(
      el("h4", { text: "Check" }),
      pairs(
        data.map((d) => [
          d.name,
          d.value === null || d.value === undefined ? el("span", { className: "muted", text: "not known yet" }) : el("strong", { className: "value", text: String(d.value) }),
        ]),
        "pairs data-to-check",
      ),
    );
  }
  if (s.article) {
    body.append(el("p", {}, el("a", { href: s.article, target: "_blank", rel: "noopener noreferrer", className: "article", text: "Open the article" })));
  }
  return body;
}

/** The alerts, newest first, coloured by severity. */
export function renderAlerts(list, alerts) {
  list.replaceChildren(
    ...[...alerts].reverse().map((a) =>
      el(
        "li",
        { className: `alert sev-${String(a.severity ?? "info").toLowerCase()}`, data: { rule: a.rule ?? "", severity: a.severity ?? "" } },
        el("span", { className: "a-label", text: a.label ?? a.rule ?? "Alert" }),
        a.matched ? el("q", { className: "a-text", text: a.matched }) : null,
        a.channel ? el("span", { className: "muted small", text: a.channel === "agent" ? "you said" : "the caller said" }) : null,
      ),
    ),
  );
  if (alerts.length === 0) list.append(el("li", { className: "muted empty", text: "No alerts." }));
}

/** The sentiment now: a gauge of the last utterance's score, the call's trend and its line so far. */
export function renderSentiment(box, current, history) {
  if (!current) {
    box.dataset.mood = "unknown";
    box.replaceChildren(el("p", { className: "muted", text: "Not measured yet." }));
    return;
  }
  const score = Number(current.score);
  const trend = Number(current.trend);
  const previous = history.length > 1 ? Number(history[history.length - 2].trend) : trend;
  const way = direction(previous, trend);
  box.dataset.score = String(score);
  box.dataset.trend = String(trend);
  box.dataset.mood = mood(trend);
  box.replaceChildren(
    el(
      "div",
      { className: "sentiment-now" },
      el("span", { className: `mood ${mood(trend)}`, text: mood(trend) }),
      el("span", { className: `way ${way}`, text: { rising: "↗ improving", falling: "↘ worsening", steady: "→ steady" }[way] }),
    ),
    el("meter", {
      className: "gauge",
      min: -1,
      max: 1,
      low: -0.25,
      high: 0.25,
      optimum: 1,
      value: score,
      attrs: { "aria-label": `last utterance ${signed(score)}` },
    }),
    el("p", { className: "muted small", text: `last utterance ${signed(score)} · trend ${signed(trend)}` }),
    sparkline(history.map((h) => Number(h.trend))),
  );
}

/** The trend over the call as a small line, 0 in the middle. */
function sparkline(values) {
  const w = 220;
  const h = 44;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("aria-hidden", "true");
  const zero = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: w, y1: h / 2, y2: h / 2, class: "zero" })) zero.setAttribute(k, String(v));
  svg.append(zero);
  const points = values.filter(Number.isFinite);
  if (points.length > 0) {
    const step = points.length > 1 ? w / (points.length - 1) : 0;
    const y = (v) => ((1 - Math.max(-1, Math.min(1, v))) / 2) * (h - 4) + 2;
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.map((v, i) => `${(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
    line.setAttribute("class", `trend ${mood(points.at(-1))}`);
    // The newest point, so that a single measurement shows too.
    const dot = document.createElementNS(SVG, "circle");
    for (const [k, v] of Object.entries({ cx: ((points.length - 1) * step).toFixed(1), cy: y(points.at(-1)).toFixed(1), r: 3, class: `now ${mood(points.at(-1))}` })) dot.setAttribute(k, String(v));
    svg.append(line, dot);
  }
  return svg;
}
