// Validation issues {node, path, message}: where each one points, and the list the admin clicks.

import { formatPath, parsePath } from "./jsonmap.js";

/**
 * Where an issue points: `{ node, abs, rel }`. `abs` is the path from the flow's root, `rel` the path
 * inside the node (null for flow-level issues). The path may be written from the root
 * (`nodes.menu.options[0].next`) or from the node (`options[0].next`); both are understood.
 */
export function resolveIssue(flow, issue) {
  let segs = parsePath(issue.path);
  // Pseudo-paths such as "(agent_node)" name an implied reference, not a place in the JSON.
  segs = segs.filter((s) => !(typeof s === "string" && /^\(.*\)$/.test(s)));
  let node = issue.node ?? null;
  let rel = null;
  if (segs[0] === "nodes" && segs.length > 1) {
    node ??= String(segs[1]);
    rel = segs.slice(2);
  } else if (node !== null) {
    rel = segs;
  }
  if (node !== null && !(node in (flow?.nodes ?? {}))) node = null;
  if (rel !== null) rel = numbered(flow?.nodes?.[node], rel);
  const abs = node !== null ? ["nodes", node, ...(rel ?? [])] : numbered(flow, segs);
  return { node, abs, rel: node !== null ? rel : null };
}

// Digits that index an array become numbers, so paths compare equal however they were written.
function numbered(value, segs) {
  const out = [];
  let cur = value;
  for (const s of segs) {
    const seg = Array.isArray(cur) && /^\d+$/.test(String(s)) ? Number(s) : s;
    out.push(seg);
    cur = cur && typeof cur === "object" ? cur[seg] : undefined;
  }
  return out;
}

/** Counts issues per node: Map name → count. */
export function countByNode(flow, issues) {
  const bad = new Map();
  for (const issue of issues) {
    const { node } = resolveIssue(flow, issue);
    if (node !== null) bad.set(node, (bad.get(node) ?? 0) + 1);
  }
  return bad;
}

/** Fills `list` with one button per issue; `onPick(issue)` when one is chosen. */
export function renderIssues(list, flow, issues, onPick) {
  list.replaceChildren(
    ...issues.map((issue, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "issue";
      button.dataset.index = String(i);
      const { node } = resolveIssue(flow, issue);
      if (node !== null) button.dataset.node = node;
      const where = document.createElement("span");
      where.className = "issue-where";
      // The path inside the node: "menu · options[0].next" rather than "menu · nodes.menu.options[0].next".
      let path = issue.path ?? "";
      if (node !== null && path.startsWith(`nodes.${node}`)) path = path.slice(`nodes.${node}`.length).replace(/^\./, "");
      where.textContent = [issue.node ?? node ?? "flow", path].filter(Boolean).join(" · ");
      const message = document.createElement("span");
      message.className = "issue-message";
      message.textContent = issue.message;
      button.append(where, message);
      button.addEventListener("click", () => onPick(issue));
      li.append(button);
      return li;
    }),
  );
}

/** Whether the issue at `rel` is about the field at `fieldPath` (or something inside it). */
export function touches(rel, fieldPath) {
  const r = formatPath(rel);
  return r === fieldPath || r.startsWith(`${fieldPath}.`) || r.startsWith(`${fieldPath}[`);
}
