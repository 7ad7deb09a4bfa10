// How times, callers and states read on the consoles. Pure: the clock is always an argument.

/** `ms` as mm:ss (h:mm:ss from an hour on); negative counts as zero. */
export function clock(ms) {
  const total = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A Unix time in milliseconds as a short local date and time. */
export function dateTime(ms) {
  if (typeof ms !== "number") return "";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The number (or user) of a SIP URI, as an agent reads it out: `"Ann" <sip:+8190@host;x>` → `+8190`. */
export function callerNumber(uri) {
  const text = String(uri ?? "").trim();
  const inner = text.match(/<([^>]*)>/)?.[1] ?? text;
  const addr = inner.replace(/^(sips?|tel):/i, "");
  const user = addr.split(/[@;?]/)[0];
  return user || text;
}

export const PRESENCE = {
  available: "Available",
  away: "Away",
  on_call: "On call",
  wrap_up: "Wrap-up",
  offline: "Offline",
};

export const presenceLabel = (p) => PRESENCE[p] ?? String(p ?? "unknown");

/** Call states of the supervisor's overview. */
export const CALL_STATE = {
  ringing: "Ringing",
  ivr: "In the IVR",
  queued: "Queued",
  offered: "Ringing an agent",
  connected: "With an agent",
  wrap_up: "Wrap-up",
};

export const callStateLabel = (s) => CALL_STATE[s] ?? String(s ?? "unknown");

/** Wrap-up dispositions: the value sent to koe and what the agent reads. */
export const DISPOSITIONS = [
  ["resolved", "Resolved"],
  ["follow_up", "Follow-up needed"],
  ["escalated", "Escalated"],
  ["not_resolved", "Not resolved"],
];

export const dispositionLabel = (d) => DISPOSITIONS.find(([v]) => v === d)?.[1] ?? String(d ?? "");

/** A sentiment score in -1..1 as a word; the bands are wide so the word does not flap. */
export function mood(score) {
  if (typeof score !== "number" || Number.isNaN(score)) return "unknown";
  if (score <= -0.25) return "negative";
  if (score >= 0.25) return "positive";
  return "neutral";
}

/** A signed score with two decimals and a real minus sign. */
export const signed = (x) => (typeof x === "number" ? `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(2)}` : "–");

/** Which way a trend goes from `before` to `after` (scores in -1..1); small moves are steady. */
export function direction(before, after) {
  if (typeof before !== "number" || typeof after !== "number") return "steady";
  if (after - before >= 0.05) return "rising";
  if (before - after >= 0.05) return "falling";
  return "steady";
}

/** A node of an IVR path, which koe gives either as a name or as `{node, at_ms}`. */
export const nodeName = (step) => (typeof step === "string" ? step : String(step?.node ?? ""));

/** A role with its article: "an agent", "a supervisor". */
export const aRole = (role) => `${/^[aeiou]/i.test(String(role)) ? "an" : "a"} ${role}`;

/** What the agent reads when an offer goes away without them (`AgentNoAnswer`'s cause). */
export function missedText(cause, who) {
  switch (cause) {
    case "caller-left":
      return `The caller ${who} hung up before you answered.`;
    case "no-answer":
      return `You did not answer the call from ${who} in time: koe set you away.`;
    case "busy":
    case "declined":
      return `Your phone refused the call from ${who} (${cause}): koe set you away.`;
    case "not-registered":
      return `Your phone is not registered, so the call from ${who} went elsewhere: koe set you away.`;
    default:
      return `The call from ${who} is no longer offered to you (${cause}).`;
  }
}
