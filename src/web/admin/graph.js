// The flow drawn as a graph: nodes in columns by their distance from `start` (the longest way there that
// does not go round a loop, so that edges point right), unreachable ones after, ordered within a column
// to keep edges short, edges labelled with the key or option.

import { edges, isTerminal, promptText } from "./model.js";

const NS = "http://www.w3.org/2000/svg";
const W = 176;
const H = 48;
const GAP_X = 92;
const GAP_Y = 26;
const PAD = 24;

function el(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Node positions: Map name → { layer, row, x, y, ghost, unreachable }, plus merged edges and size. */
export function layout(flow) {
  const nodes = flow?.nodes && typeof flow.nodes === "object" ? flow.nodes : {};
  const names = Object.keys(nodes);
  const raw = names.flatMap((from) => edges(flow, nodes[from]).map((e) => ({ from, ...e })));

  // Columns: a node sits one column right of every node that leads to it, except along edges that go
  // back round a loop (found by a depth-first walk from start), so that all other edges point right.
  // Nodes that start cannot reach get columns of their own after the reachable ones.
  const succ = new Map(names.map((n) => [n, []]));
  for (const e of raw) if (nodes[e.to]) succ.get(e.from).push(e.to);
  const seen = new Map();
  const back = new Set();
  const postorder = [];
  const walk = (n) => {
    seen.set(n, "open");
    for (const t of succ.get(n)) {
      if (seen.get(t) === "open") back.add(`${n}\u0000${t}`);
      else if (!seen.has(t)) walk(t);
    }
    seen.set(n, "done");
    postorder.push(n);
  };
  if (nodes[flow?.start]) walk(flow.start);
  const reachable = new Set(postorder);
  for (const n of names) if (!seen.has(n)) walk(n);
  const order = postorder.reverse();
  const layer = new Map(order.map((n) => [n, 0]));
  for (const n of order) {
    for (const t of succ.get(n)) {
      if (back.has(`${n}\u0000${t}`) || reachable.has(n) !== reachable.has(t)) continue;
      layer.set(t, Math.max(layer.get(t), layer.get(n) + 1));
    }
  }
  const deepest = Math.max(-1, ...order.filter((n) => reachable.has(n)).map((n) => layer.get(n)));
  for (const n of order) if (!reachable.has(n)) layer.set(n, layer.get(n) + deepest + 1);
  // A reference to a node that does not exist is drawn to a "missing" box next to its source.
  const ghosts = new Set();
  for (const e of raw) {
    if (!nodes[e.to] && e.to !== "") {
      const id = `missing:${e.to}`;
      e.ghost = id;
      if (!ghosts.has(id)) {
        ghosts.add(id);
        layer.set(id, layer.get(e.from) + 1);
        order.push(id);
      }
    }
  }
  const target = (e) => e.ghost ?? e.to;

  const columns = [];
  for (const n of order) (columns[layer.get(n)] ??= []).push(n);
  for (let c = 0; c < columns.length; c++) columns[c] ??= [];

  // A few barycentre sweeps: each node moves towards the mean row of its predecessors.
  const row = new Map();
  columns.forEach((col) => col.forEach((n, i) => row.set(n, i)));
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let c = 1; c < columns.length; c++) {
      const weight = new Map();
      for (const n of columns[c]) {
        const preds = raw.filter((e) => target(e) === n && layer.get(e.from) < c).map((e) => row.get(e.from));
        weight.set(n, preds.length ? preds.reduce((a, b) => a + b, 0) / preds.length : row.get(n));
      }
      columns[c].sort((a, b) => weight.get(a) - weight.get(b) || row.get(a) - row.get(b));
      columns[c].forEach((n, i) => row.set(n, i));
    }
  }

  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const pos = new Map();
  columns.forEach((col, c) => {
    const offset = ((tallest - col.length) * (H + GAP_Y)) / 2;
    col.forEach((n, i) => {
      pos.set(n, {
        layer: c,
        x: PAD + c * (W + GAP_X),
        y: PAD + offset + i * (H + GAP_Y),
        ghost: ghosts.has(n),
        unreachable: !ghosts.has(n) && !reachable.has(n),
      });
    });
  });

  // One drawn edge per (from, to), with the labels of every reference it stands for.
  const merged = new Map();
  for (const e of raw) {
    if (e.to === "") continue;
    const key = `${e.from}\u0000${target(e)}`;
    const m = merged.get(key) ?? { from: e.from, to: target(e), refs: [] };
    m.refs.push(e);
    merged.set(key, m);
  }
  const width = PAD * 2 + columns.length * W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y + 40;
  return { pos, edges: [...merged.values()], width: Math.max(width, 200), height };
}

// The point of the cubic Bézier `c` (x0,y0 … x3,y3, x growing with t) whose x is `x`.
function bezierAtX(c, x) {
  const point = (t) => {
    const u = 1 - t;
    const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    return [0, 1].map((k) => w[0] * c[k] + w[1] * c[2 + k] + w[2] * c[4 + k] + w[3] * c[6 + k]);
  };
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 20; i++) {
    const mid = (lo + hi) / 2;
    if (point(mid)[0] < x) lo = mid;
    else hi = mid;
  }
  return point(lo);
}

function edgePath(a, b, bottom) {
  if (a === b) {
    const x = a.x + W;
    const y = a.y + H / 2;
    return { d: `M${x},${y - 10} C${x + 50},${y - 40} ${x + 50},${y + 40} ${x},${y + 10}`, spots: [[x + 38, y]] };
  }
  if (b.layer > a.layer) {
    const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    const dx = Math.max(30, (x2 - x1) / 2);
    const c = [x1, y1, x1 + dx, y1, x2 - dx, y2, x2, y2];
    // A label goes in a gap between columns, where no box can be under it: the first gap that is free.
    const spots = [];
    for (let gx = x1 + GAP_X / 2; gx < x2; gx += W + GAP_X) spots.push(bezierAtX(c, gx));
    return { d: `M${x1},${y1} C${c[2]},${c[3]} ${c[4]},${c[5]} ${x2},${y2}`, spots };
  }
  // Back or sideways: leave from the bottom, loop under both boxes, come back up.
  const [x1, y1, x2, y2] = [a.x + W / 2 + 12, a.y + H, b.x + W / 2 - 12, b.y + H];
  const low = Math.min(bottom, Math.max(y1, y2) + 34 + Math.abs(x1 - x2) * 0.08);
  return {
    d: `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`,
    spots: [[(x1 + x2) / 2, low - 8]],
  };
}

function subtitle(node, language) {
  const type = node?.type ?? "?";
  if (type === "menu") return `menu · ${(node.options ?? []).length} options`;
  if (type === "collect") return `collect → ${node.var ?? "?"}`;
  if (type === "queue") return `queue ${node.queue ?? ""}`;
  if (type === "transfer") return `transfer ${node.target ?? ""}`;
  if (type === "language") return `language → ${node.language ?? ""}`;
  const text = promptText(node?.prompt, language);
  return text ? `${type} · “${text}”` : type;
}

/**
 * Draws `flow` into `container`. `view`: { selected, bad: Map name → issue count, visited: [names],
 * showAgentEdges, fit, language }. `onSelect(name | null)` is called on a click or Enter.
 */
export function renderGraph(container, flow, view, onSelect) {
  const { pos, edges: drawn, width, height } = layout(flow);
  const nodes = flow?.nodes ?? {};
  const walked = new Set();
  (view.visited ?? []).forEach((n, i, all) => i > 0 && walked.add(`${all[i - 1]}\u0000${n}`));
  const visited = new Set(view.visited ?? []);

  const svg = el("svg", {
    xmlns: NS,
    viewBox: `0 0 ${width} ${height}`,
    width: view.fit ? "100%" : width,
    height: view.fit ? null : height,
    class: "graph-svg",
    role: "img",
    "aria-label": `Flow graph with ${pos.size} nodes`,
  });
  const marker = (id) =>
    el("marker", {
      id,
      class: id,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 9,
      markerHeight: 9,
      markerUnits: "userSpaceOnUse",
      orient: "auto-start-reverse",
    },
      el("path", { d: "M0,0 L10,5 L0,10 z" }));
  svg.append(el("defs", {}, marker("arrow"), marker("arrow-walked"), marker("arrow-bad")));
  svg.append(el("rect", { class: "graph-bg", x: 0, y: 0, width, height }));
  svg.addEventListener("click", (ev) => {
    if (ev.target.classList?.contains("graph-bg")) onSelect(null);
  });

  const edgeLayer = el("g", { class: "edges" });
  const labelLayer = el("g", { class: "labels" });
  const placed = [];
  for (const e of drawn) {
    const refs = view.showAgentEdges ? e.refs : e.refs.filter((r) => r.path !== "(agent_key)");
    if (refs.length === 0) continue;
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    const { d, spots } = edgePath(a, b, height - 6);
    const isWalked = walked.has(`${e.from}\u0000${e.to}`);
    const implicit = refs.every((r) => r.implicit);
    const cls = ["edge", implicit && "implicit", isWalked && "walked", b.ghost && "bad"].filter(Boolean).join(" ");
    const arrow = b.ghost ? "arrow-bad" : isWalked ? "arrow-walked" : "arrow";
    const path = el("path", { d, class: cls, "marker-end": `url(#${arrow})`, "data-from": e.from, "data-to": e.to });
    path.append(el("title", {}, `${e.from} → ${e.to}: ${refs.map((r) => r.path).join(", ")}`));
    edgeLayer.append(path);
    const label = [...new Set(refs.map((r) => r.label).filter(Boolean))].join(", ");
    if (label) {
      const text = clip(label, 18);
      const w = text.length * 6.6 + 8;
      const box = (p) => ({ x: p[0] - w / 2, y: p[1] - 9, w, h: 17 });
      const free = (r) => placed.every((q) => r.x + r.w <= q.x || q.x + q.w <= r.x || r.y + r.h <= q.y || q.y + q.h <= r.y);
      const mid = spots.find((p) => free(box(p))) ?? spots[0];
      placed.push(box(mid));
      labelLayer.append(
        el("g", { class: `edge-label${isWalked ? " walked" : ""}`, transform: `translate(${mid[0]},${mid[1]})` },
          el("rect", { x: -w / 2, y: -9, width: w, height: 17, rx: 4 }),
          el("text", { "text-anchor": "middle", y: 4 }, text)),
      );
    }
  }
  svg.append(edgeLayer, labelLayer);

  const nodeLayer = el("g", { class: "nodes" });
  for (const [name, p] of pos) {
    const node = nodes[name];
    const problems = view.bad?.get(name) ?? 0;
    const classes = ["node"];
    if (p.ghost) classes.push("ghost", "bad");
    else {
      classes.push(`t-${node?.type ?? "unknown"}`);
      if (isTerminal(node)) classes.push("terminal");
      if (name === flow.start) classes.push("start");
      if (problems > 0) classes.push("bad");
      if (p.unreachable) classes.push("unreachable");
      if (visited.has(name)) classes.push("visited");
      if (name === view.selected) classes.push("selected");
    }
    const title = p.ghost
      ? `${name.slice("missing:".length)} does not exist`
      : [name, node?.type, promptText(node?.prompt, view.language), problems ? `${problems} problem(s)` : ""].filter(Boolean).join(" · ");
    const g = el("g", {
      class: classes.join(" "),
      transform: `translate(${p.x},${p.y})`,
      "data-node": p.ghost ? null : name,
      tabindex: p.ghost ? null : 0,
      role: p.ghost ? null : "button",
      "aria-pressed": p.ghost ? null : String(name === view.selected),
      "aria-label": p.ghost ? null : title,
    });
    g.append(el("title", {}, title));
    g.append(el("rect", { class: "box", width: W, height: H, rx: isTerminal(node) ? H / 2 : 6 }));
    if (p.ghost) {
      g.append(el("text", { class: "name", x: W / 2, y: 20, "text-anchor": "middle" }, "missing node"));
      g.append(el("text", { class: "sub", x: W / 2, y: 37, "text-anchor": "middle" }, clip(name.slice(8), 26)));
    } else {
      const pad = isTerminal(node) ? 18 : 10;
      g.append(el("text", { class: "name", x: pad, y: 20 }, clip(name, 22)));
      g.append(el("text", { class: "sub", x: pad, y: 37 }, clip(subtitle(node, view.language), 28)));
      if (problems > 0) {
        g.append(el("circle", { class: "badge", cx: W - 4, cy: 4, r: 9 }));
        g.append(el("text", { class: "badge-text", x: W - 4, y: 8, "text-anchor": "middle" }, problems > 9 ? "9+" : String(problems)));
      }
      if (name === flow.start) g.append(el("path", { class: "start-mark", d: `M-16,${H / 2 - 7} L-4,${H / 2} L-16,${H / 2 + 7} z` }));
      const pick = () => onSelect(name);
      g.addEventListener("click", pick);
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          pick();
        }
      });
    }
    nodeLayer.append(g);
  }
  svg.append(nodeLayer);

  // Keep keyboard focus on the node that had it across a redraw.
  const active = document.activeElement;
  const focused = container.contains(active) ? active.getAttribute("data-node") : null;
  container.replaceChildren(svg);
  if (focused) svg.querySelector(`[data-node="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
}

/** Scrolls the graph so that `name` is visible. */
export function revealNode(container, name) {
  container.querySelector(`[data-node="${CSS.escape(name)}"]`)?.scrollIntoView({ block: "nearest", inline: "nearest" });
}
