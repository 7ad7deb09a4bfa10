import assert from "node:assert/strict";
import test from "node:test";
import { CallLoader, CallState } from "../callstate.js";

const CALL = "c1@host";

/** A context as `GET /api/calls/{id}/context` answers it (src/web/agents.rs). */
function context(over = {}) {
  return {
    call_id: CALL,
    from: "sip:+8190123@carrier",
    number: "+8190123",
    started_at_ms: 1000,
    ended_at_ms: null,
    ivr: {
      flow_id: "support",
      version: 1,
      language: "en",
      path: [{ node: "welcome", at_ms: 0 }, { node: "main_menu", at_ms: 4000 }],
      vars: { order_number: "123456", card: "••••1234" },
      outcome: { kind: "queue", node: "orders_queue", target: "orders", skills: ["orders"] },
      voicemail_path: null,
    },
    service: { queue: "orders", skills: ["orders"], queued_at_ms: 2000, offers: [{ agent: "ann", at_ms: 2100, result: null }], agent: null, connected_at_ms: null, agent_left_at_ms: null, overflow: null, transfers: [] },
    live: { call_id: CALL, from: "sip:+8190123@carrier", started_ts_ms: 10, queued_ts_ms: 20, state: "offered", queue: "orders", language: "en", agent: null, offered_to: "ann", recording_paused: false, suggestions: null, sentiment: null, alerts: [] },
    waited_ms: 900,
    history: [{ call_id: "old", started_at_ms: 500, ended_at_ms: 600, queue: "orders", agent: "ann", intent: "orders", wrapup: { agent: "ann", reason: "Late delivery", disposition: "follow_up", notes: "", saved_at_ms: 610 }, summary: null }],
    transcript: [{ call_id: CALL, channel: "caller", utterance_id: 1, text: "I want to check my order.", start_ms: 500, end_ms: 1500 }],
    wrapup: null,
    summary: null,
    recording_pauses: [],
    seq: 10,
    ...over,
  };
}

let seq = 10;
const ev = (type, fields = {}, call = CALL) => ({ seq: ++seq, call_id: call, ts_ms: seq, type, ...fields });

test("events the context already had are dropped; later ones apply once", () => {
  seq = 10;
  const c = new CallState(context(), { agent: "ann" });
  assert.equal(c.apply({ seq: 9, call_id: CALL, type: "Transcript", channel: "caller", kind: "final", utterance_id: 2, text: "old" }), null);
  assert.equal(c.apply({ seq: 10, call_id: CALL, type: "RecordingPaused" }), null);
  const e = ev("Transcript", { channel: "caller", kind: "final", utterance_id: 2, text: "It is late.", start_ms: 2000, end_ms: 2600 });
  assert.equal(c.apply(e).part, "transcript");
  assert.equal(c.apply(e), null, "the same seq again");
  assert.equal(c.transcript.finals().length, 2);
  // The context's own line does not come twice when its event is replayed under a newer seq.
  assert.equal(c.apply(ev("Transcript", { channel: "caller", kind: "final", utterance_id: 1, text: "I want to check my order." })), null);
});

test("an agent's phases: offered, connected, wrap-up, done", () => {
  seq = 10;
  const c = new CallState(context(), { agent: "ann" });
  assert.equal(c.phase, "offered");
  assert.equal(c.apply(ev("AgentConnected", { agent: "bob" })).part, "context", "another agent is not this one");
  assert.equal(c.phase, "offered");
  assert.equal(c.apply(ev("AgentConnected", { agent: "ann" })).part, "phase");
  assert.equal(c.phase, "connected");
  c.apply(ev("CallEnded", { cause: "bye", hangup_by: "caller" }));
  assert.equal(c.phase, "wrapup");
  c.apply(ev("WrapUpSaved", { agent: "ann", reason: "Late delivery", disposition: "resolved", notes: "" }));
  assert.equal(c.phase, "done");
  assert.equal(c.wrapup.reason, "Late delivery");
});

test("an offer that is not answered or ends goes away", () => {
  seq = 10;
  const a = new CallState(context(), { agent: "ann" });
  a.apply(ev("AgentNoAnswer", { agent: "ann", cause: "timeout" }));
  assert.equal(a.phase, "gone");
  assert.equal(a.missed, "timeout");
  const b = new CallState(context(), { agent: "ann" });
  b.apply(ev("AgentNoAnswer", { agent: "bob", cause: "timeout" }));
  assert.equal(b.phase, "offered");
  b.apply(ev("CallEnded", { cause: "bye", hangup_by: "caller" }));
  assert.equal(b.phase, "gone");
  assert.equal(b.missed, "caller-left");
});

test("the agent's own leg ending starts the wrap-up", () => {
  seq = 10;
  const c = new CallState(context(), { agent: "ann", phase: "connected" });
  c.apply(ev("AgentLeft", { agent: "ann", by: "caller" }));
  assert.equal(c.phase, "wrapup");
  // The call's end after the agent's leg: no new phase, but the context stops counting.
  assert.equal(c.apply(ev("CallEnded", { cause: "bye", hangup_by: "caller" })).part, "context");
  assert.equal(c.ended, true);
});

test("suggestions, alerts, sentiment, recording, variables and summary follow the events", () => {
  seq = 10;
  const c = new CallState(context(), { agent: "ann", phase: "connected" });
  const s = { intent: "order_tracking", title: "Track the order", confidence: 0.8, triggered_by: ["order", "late"], next_steps: [], script: "", article: "", data_to_check: [{ name: "order_number", value: "123456" }] };
  assert.equal(c.apply(ev("Suggestion", { suggestions: [s] })).part, "suggestions");
  assert.equal(c.suggestedReason(), "Track the order");
  c.apply(ev("Alert", { rule: "legal", severity: "critical", label: "Legal threat", utterance_id: 3, channel: "caller", matched: "my lawyer" }));
  assert.equal(c.alerts.length, 1);
  c.apply(ev("SentimentChanged", { utterance_id: 3, score: -0.6, trend: -0.3 }));
  c.apply(ev("SentimentChanged", { utterance_id: 4, score: 0.2, trend: -0.1 }));
  assert.deepEqual(c.sentiment, { utterance_id: 4, score: 0.2, trend: -0.1 });
  assert.equal(c.sentimentHistory.length, 2);
  c.apply(ev("RecordingPaused", { reason: "card" }));
  assert.equal(c.recordingPaused, true);
  c.apply(ev("RecordingResumed"));
  assert.equal(c.recordingPaused, false);
  c.apply(ev("IvrVariable", { name: "intent", value: "orders" }));
  assert.equal(c.vars.intent, "orders");
  assert.equal(c.vars.card, "••••1234", "masked values stay as koe sent them");
  c.apply(ev("Summary", { summary: { reason: "Late order", actions: [], outcome: "resolved", follow_ups: [] } }));
  assert.equal(c.summary.reason, "Late order");
  assert.equal(c.apply(ev("Suggestion", { suggestions: [] }, "other@host")), null, "another call's event");
});

test("the context's parts: queue, waited since, attempt, history, IVR variables, live assist state", () => {
  const c = new CallState(
    context({
      live: {
        ...context().live,
        recording_paused: true,
        suggestions: { suggestions: [{ intent: "track", title: "Track the order", confidence: 0.7 }] },
        sentiment: { utterance_id: 2, score: -0.4, trend: -0.2 },
        alerts: [{ rule: "legal", severity: "critical", label: "Legal threat", utterance_id: 2, channel: "caller", matched: "lawyer" }],
      },
    }),
    { agent: "ann" },
  );
  assert.equal(c.queue, "orders");
  assert.equal(c.queuedAtMs, 2000);
  assert.equal(c.attempt, 1);
  assert.equal(c.history[0].wrapup.reason, "Late delivery");
  assert.equal(c.vars.order_number, "123456");
  assert.equal(c.recordingPaused, true);
  assert.equal(c.suggestedReason(), "Track the order");
  seq = 10;
  // The same alert and sentiment again after the context's seq: no duplicate.
  assert.equal(c.apply(ev("Alert", { rule: "legal", severity: "critical", label: "Legal threat", utterance_id: 2, channel: "caller", matched: "lawyer" })), null);
  assert.equal(c.apply(ev("SentimentChanged", { utterance_id: 2, score: -0.4, trend: -0.2 })), null);
  assert.equal(c.alerts.length, 1);
  assert.equal(c.sentimentHistory.length, 1);
});

test("a context with a saved wrap-up is done; a supervisor's view ends with the call", () => {
  assert.equal(new CallState(context({ wrapup: { reason: "x", disposition: "resolved", notes: "" } }), { agent: "ann" }).phase, "done");
  seq = 10;
  const w = new CallState(context());
  assert.equal(w.phase, "live");
  w.apply(ev("AgentConnected", { agent: "ann" }));
  assert.equal(w.phase, "live");
  w.apply(ev("CallEnded", { cause: "bye", hangup_by: "caller" }));
  assert.equal(w.phase, "done");
});

test("the loader holds the call's events while its context loads, and drops what it had", async () => {
  let answer;
  const loader = new CallLoader(() => new Promise((resolve) => (answer = resolve)));
  const pending = loader.load(CALL, (ctx) => new CallState(ctx, { agent: "ann" }));
  const before = { seq: 9, call_id: CALL, type: "Transcript", channel: "caller", kind: "final", utterance_id: 7, text: "in context" };
  const after = { seq: 11, call_id: CALL, type: "Transcript", channel: "caller", kind: "final", utterance_id: 8, text: "after", start_ms: 3000, end_ms: 3500 };
  assert.equal(loader.hold(before), true);
  assert.equal(loader.hold({ seq: 12, call_id: "other", type: "CallHeld" }), false);
  assert.equal(loader.hold(after), true);
  answer(context());
  const call = await pending;
  assert.deepEqual(
    call.transcript.finals().map((l) => l.text),
    ["I want to check my order.", "after"],
  );
  assert.equal(call.seq, 11);
  assert.equal(loader.hold(after), false, "nothing loads now");
});

test("a load overtaken by another gives null; a failed one stops holding", async () => {
  const answers = [];
  const loader = new CallLoader((id) => new Promise((resolve, reject) => answers.push({ id, resolve, reject })));
  const first = loader.load("a", (ctx) => new CallState(ctx));
  const second = loader.load("b", (ctx) => new CallState(ctx));
  answers[0].resolve(context({ call_id: "a" }));
  assert.equal(await first, null);
  answers[1].reject(new Error("koe did not answer"));
  await assert.rejects(second, /did not answer/);
  assert.equal(loader.hold({ seq: 1, call_id: "b" }), false);
});
