// What koe knows about a caller before the agent says hello: the offer card (who, why, how long they
// waited) and the context column (their previous calls, the IVR path and what it collected).

import { counter, el, pairs } from "./dom.js";
import { callerNumber, clock, dateTime, dispositionLabel, nodeName } from "./format.js";

/** Variables shown in the offer itself; the context column lists every variable. */
const SPOKEN = "spoken_reason";
const INTENT = "intent";

/** The ringing card. */
export function renderOffer(box, call) {
  const reason = call.vars[SPOKEN];
  box.replaceChildren(
    el("p", { className: "ringing", text: "Incoming call · answer on your SIP phone" }),
    el("p", { className: "caller-big", data: { field: "from" }, title: call.from, text: callerNumber(call.from) }),
    reason
      ? el("p", { className: "reason", data: { field: "spoken_reason" } }, el("span", { className: "muted", text: "Caller said " }), el("q", { text: reason }))
      : el("p", { className: "reason muted", text: "The caller gave no reason in words." }),
    pairs(
      [
        ["Queue", el("span", { data: { field: "queue" }, text: call.queue ?? "–" })],
        ["IVR intent", el("span", { data: { field: "intent" }, text: call.vars[INTENT] ?? "–" })],
        ["Waited", el("span", { data: { field: "waited" } }, counter(call.queuedAtMs ?? call.startedAtMs, clock))],
        call.attempt ? ["Attempt", el("span", { text: String(call.attempt) })] : null,
      ].filter(Boolean),
      "pairs offer-facts",
    ),
  );
}

/** The context column: caller and history, then the IVR. */
export function renderContext(box, call) {
  const history = call.history;
  const caller = el(
    "section",
    { className: "ctx-block", attrs: { "aria-labelledby": "ctx-caller" } },
    el("h3", { id: "ctx-caller", text: "Caller" }),
    el("p", { className: "ctx-number", title: call.from, text: call.number ?? callerNumber(call.from) }),
    el("p", { className: "muted", text: history.length ? `Known customer: ${history.length} previous call${history.length === 1 ? "" : "s"}` : "No previous calls from this number." }),
    call.startedAtMs && !call.ended ? el("p", { className: "muted small" }, "In the call for ", counter(call.startedAtMs, clock)) : null,
    call.transferredTo ? el("p", { className: "note", text: `Transferred to ${call.transferredTo}` }) : null,
  );
  const previous = el(
    "section",
    { className: "ctx-block", attrs: { "aria-labelledby": "ctx-history" } },
    el("h3", { id: "ctx-history", text: "Previous calls" }),
    history.length
      ? el("ol", { id: "history", className: "history" }, ...[...history].sort((a, b) => (b.started_at_ms ?? 0) - (a.started_at_ms ?? 0)).map(previousCall))
      : el("p", { className: "muted", text: "None." }),
  );
  box.replaceChildren(caller, previous, ivrBlock(call));
}

/** One earlier call: when, how it ended, why (the wrap-up's reason, else the summary's, else the IVR's). */
function previousCall(c) {
  const w = c.wrapup ?? {};
  const s = c.summary ?? {};
  const who = [c.queue, c.agent].filter(Boolean).join(" · ");
  return el(
    "li",
    { className: "prev", data: { call: c.call_id ?? "" } },
    el(
      "div",
      { className: "prev-head" },
      el("time", { text: dateTime(c.started_at_ms) }),
      w.disposition ? el("span", { className: `tag disp-${w.disposition}`, text: dispositionLabel(w.disposition) }) : null,
    ),
    el("p", { className: "prev-reason", text: w.reason || s.reason || (c.intent ? `IVR: ${c.intent}` : "No reason recorded.") }),
    who ? el("p", { className: "muted small", text: who }) : null,
    w.notes ? el("p", { className: "prev-notes", text: w.notes }) : null,
    summaryList(s),
  );
}

/** A stored summary (`reason`, `actions`, `outcome`, `follow_ups`) as short lines; null when empty. */
export function summaryList(s) {
  const rows = [];
  if (s?.caller_said) rows.push(["Caller said", s.caller_said]);
  if (Array.isArray(s?.actions) && s.actions.length) rows.push(["Done", s.actions.join(" · ")]);
  if (s?.outcome) rows.push(["Outcome", s.outcome]);
  if (Array.isArray(s?.follow_ups) && s.follow_ups.length) rows.push(["Follow up", s.follow_ups.join(" · ")]);
  return rows.length ? pairs(rows, "pairs summary") : null;
}

function ivrBlock(call) {
  const path = Array.isArray(call.ivr?.path) ? call.ivr.path.map(nodeName) : [];
  const vars = Object.entries(call.vars).filter(([name]) => name !== "caller");
  return el(
    "section",
    { className: "ctx-block", attrs: { "aria-labelledby": "ctx-ivr" } },
    el("h3", { id: "ctx-ivr", text: "In the IVR" }),
    path.length
      ? el("ol", { id: "ivr-path", className: "path", attrs: { "aria-label": "IVR path" } }, ...path.map((n) => el("li", { data: { node: n }, text: n })))
      : el("p", { className: "muted", text: "Did not go through the IVR." }),
    vars.length
      ? el(
          "dl",
          { id: "ivr-vars", className: "pairs vars" },
          ...vars.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { data: { var: name }, text: String(value) })]),
        )
      : null,
  );
}
