// What the drawing knows about the flow format (src/ivr/flow.rs): where a node can lead, which nodes
// end the IVR, a starting point for a new node. (The forms' fields come from the JSON Schema: schema.js.)
// The server's validator stays the judge.

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
