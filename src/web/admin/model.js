// What the page knows about the flow format (src/ivr/flow.rs): each node type's fields, where a node
// can lead, which nodes end the IVR. The server's validator stays the judge; this only drives the forms
// and the drawing.

// Field kinds: prompt (text or {wav} per language), ref (a node name), num, bool, str, char (one key),
// options (menu options), cases (branch cases), list (strings), json (anything else, edited as JSON).
// `optional` fields may be absent; `def` is the server's default, shown as a placeholder.
const f = (name, kind, extra = {}) => ({ name, kind, optional: false, ...extra });
const opt = (name, kind, extra = {}) => f(name, kind, { optional: true, ...extra });

export const NODE_TYPES = {
  play: [f("prompt", "prompt"), opt("barge_in", "bool", { def: true }), f("next", "ref")],
  menu: [
    f("prompt", "prompt"),
    f("options", "options"),
    opt("timeout_s", "num", { def: 5 }),
    opt("retries", "num", { def: 2 }),
    opt("no_match_prompt", "prompt"),
    opt("no_input_prompt", "prompt"),
    opt("on_failure", "ref", { placeholder: "the agent node" }),
    opt("agent", "bool", { def: true, label: "agent key and phrases work here" }),
    opt("speech", "bool", { def: true, label: "caller may speak a choice" }),
  ],
  collect: [
    f("prompt", "prompt"),
    f("var", "str"),
    opt("min_digits", "num", { def: 1 }),
    f("max_digits", "num"),
    opt("terminator", "char", { def: "#" }),
    opt("pattern", "str"),
    opt("check", "str", { placeholder: "luhn" }),
    opt("timeout_s", "num", { def: 5 }),
    opt("retries", "num", { def: 2 }),
    opt("invalid_prompt", "prompt"),
    opt("no_input_prompt", "prompt"),
    opt("on_failure", "ref", { placeholder: "the agent node" }),
    opt("sensitive", "bool", { def: false, label: "mask the digits" }),
    f("next", "ref"),
  ],
  branch: [f("cases", "cases"), f("default", "ref")],
  set: [f("vars", "json"), f("next", "ref")],
  lookup: [
    f("url", "str"),
    opt("method", "str", { def: "GET" }),
    opt("timeout_ms", "num", { def: 2000 }),
    opt("assign", "json"),
    f("next", "ref"),
    f("fallback", "ref"),
  ],
  queue: [f("queue", "str"), opt("skills", "list"), opt("prompt", "prompt"), opt("overflow", "ref")],
  voicemail: [f("prompt", "prompt"), opt("max_s", "num", { def: 60 }), opt("goodbye", "prompt")],
  transfer: [f("target", "str"), opt("prompt", "prompt")],
  language: [f("language", "str"), f("next", "ref")],
  hangup: [opt("prompt", "prompt")],
};

const TERMINAL = new Set(["queue", "voicemail", "transfer", "hangup"]);

export const isTerminal = (node) => TERMINAL.has(node?.type);

/** A small valid-looking node of `type`, for "new node". */
export function template(type, flow) {
  const say = () => Object.fromEntries((flow.languages ?? ["en"]).map((l) => [l, ""]));
  const to = flow.agent_node ?? "";
  switch (type) {
    case "play": return { type, prompt: say(), next: to };
    case "menu": return { type, prompt: say(), options: [{ key: "1", next: to }] };
    case "collect": return { type, prompt: say(), var: "digits", max_digits: 4, next: to };
    case "branch": return { type, cases: [], default: to };
    case "set": return { type, vars: {}, next: to };
    case "lookup": return { type, url: "http://", next: to, fallback: to };
    case "queue": return { type, queue: "support" };
    case "voicemail": return { type, prompt: say() };
    case "transfer": return { type, target: "sip:" };
    case "language": return { type, language: flow.languages?.[0] ?? "en", next: to };
    default: return { type: "hangup" };
  }
}

function optionLabel(o, i) {
  if (o?.key) return String(o.key);
  if (o?.intent) return o.intent;
  const phrase = Object.values(o?.phrases ?? {}).flat()[0];
  return phrase ? `“${phrase}”` : `option ${i + 1}`;
}

function conditionLabel(when, i) {
  if (!when || typeof when !== "object") return `case ${i + 1}`;
  const [kind, arg] = Object.entries(when)[0] ?? [];
  if (kind === "open" || kind === "holiday" || kind === "exists") return `${kind} ${arg}`;
  if (kind === "equals" && arg) return `${arg.var}=${arg.value}`;
  return `case ${i + 1}`;
}

/**
 * Where `node` can lead: `[{ to, label, path, implicit }]`, as Node::targets in flow.rs. `implicit`
 * marks edges the flow does not spell out (the agent key, the default failure route).
 */
export function edges(flow, node) {
  const out = [];
  const add = (to, label, path, implicit = false) => {
    if (typeof to === "string") out.push({ to, label, path, implicit });
  };
  const failure = (n) => {
    if (n.on_failure !== undefined && n.on_failure !== null) add(n.on_failure, "fail", "on_failure");
    else add(flow.agent_node, "fail", "(agent_node)", true);
  };
  switch (node?.type) {
    case "play":
    case "set":
    case "language":
      add(node.next, "", "next");
      break;
    case "menu":
      (node.options ?? []).forEach((o, i) => add(o?.next, optionLabel(o, i), `options[${i}].next`));
      failure(node);
      if (node.agent !== false) add(flow.agent_node, String(flow.agent_key ?? "0"), "(agent_key)", true);
      break;
    case "collect":
      add(node.next, "ok", "next");
      failure(node);
      break;
    case "branch":
      (node.cases ?? []).forEach((c, i) => add(c?.next, conditionLabel(c?.when, i), `cases[${i}].next`));
      add(node.default, "else", "default");
      break;
    case "lookup":
      add(node.next, "ok", "next");
      add(node.fallback, "fallback", "fallback");
      break;
    case "queue":
      add(node.overflow, "overflow", "overflow");
      break;
    default:
      break;
  }
  return out;
}

/** The text of a prompt in `language` (or its first language), for summaries. */
export function promptText(prompt, language) {
  if (!prompt || typeof prompt !== "object") return "";
  const src = prompt[language] ?? Object.values(prompt)[0];
  if (typeof src === "string") return src;
  if (src && typeof src === "object" && src.wav) return `[${src.wav}.wav]`;
  return "";
}
