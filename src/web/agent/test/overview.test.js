import assert from "node:assert/strict";
import test from "node:test";
import { Overview } from "../../supervisor/overview.js";

/** An overview as `GET /api/supervisor/overview` answers it (src/web/agents.rs), read at wall time 10 000. */
const NOW = 10_000;
const live = (id, over) => ({ call_id: id, from: `sip:${id}@x`, started_ts_ms: 100, queued_ts_ms: 500, state: "queued", queue: "orders", language: "en", agent: null, offered_to: null, recording_paused: false, suggestions: null, sentiment: null, alerts: [], ...over });
const snapshot = () => ({
  queues: [{ name: "orders", waiting: [{ call_id: "q2", waited_ms: 1000, position: 2, offered_to: null }, { call_id: "q1", waited_ms: 3000, position: 1, offered_to: null }], longest_wait_ms: 3000 }],
  agents: [{ id: "ann", name: "Ann", skills: { orders: 2 }, languages: ["en"], presence: "available", since_ms: 4000, registered: true, call_id: null }],
  calls: [live("q1", { started_ts_ms: 200, queued_ts_ms: 2000 }), live("q2", { started_ts_ms: 3000, queued_ts_ms: 4000 })],
  seq: 20,
});

let seq = 20;
const ev = (call_id, ts_ms, type, fields = {}) => ({ seq: ++seq, call_id, ts_ms, type, ...fields });
/** Events arrive at once: the wall clock is koe's event clock plus the snapshot's offset. */
const feed = (o, e) => o.apply(e, e.ts_ms + 5000);

test("the snapshot: callers in order, durations and the event clock on the wall clock", () => {
  const o = new Overview(snapshot(), NOW);
  const [orders] = o.queueList();
  assert.deepEqual(
    orders.waiting.map((w) => [w.call_id, w.since_ms]),
    [["q1", 7000], ["q2", 9000]],
  );
  assert.equal(orders.oldest_ms, 7000);
  assert.equal(o.agents.get("ann").since_ms, 6000);
  // q1 queued at event time 2000 and wall time 7000 (q2 gives 5000, the smaller, so the nearer).
  assert.equal(o.offset, 5000);
  assert.deepEqual(
    o.callList().map((c) => [c.call_id, c.started_ms]),
    [["q1", 5200], ["q2", 8000]],
  );
  assert.equal(o.fromOf("q2"), "sip:q2@x");
});

test("without waiting callers the clock is learnt from the events", () => {
  const o = new Overview({ queues: [], agents: [], calls: [live("c", { started_ts_ms: 50 })], seq: 1 }, NOW);
  assert.equal(o.callList()[0].started_ms, null);
  o.apply({ seq: 2, call_id: "c", ts_ms: 7000, type: "CallHeld" }, 9050);
  o.apply({ seq: 3, call_id: "c", ts_ms: 7100, type: "CallResumed" }, 9100);
  assert.equal(o.offset, 2000);
  assert.equal(o.callList()[0].started_ms, 2050);
});

test("a call from start to an agent and its end", () => {
  seq = 20;
  const o = new Overview(snapshot(), NOW);
  assert.deepEqual([...feed(o, ev("n1", 5000, "CallStarted", { from: "sip:3@x", to: "sip:support@koe" }))], ["calls"]);
  assert.equal(o.calls.get("n1").state, "ringing");
  feed(o, ev("n1", 5010, "CallAnswered", { codec: "PCMU" }));
  assert.equal(o.calls.get("n1").state, "ivr");
  feed(o, ev("n1", 5100, "CallQueued", { queue: "orders", skills: [], language: "en", path: [], vars: {} }));
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => [w.call_id, w.position, w.since_ms]),
    [["q1", 1, 7000], ["q2", 2, 9000], ["n1", 3, 10100]],
  );
  feed(o, ev("q1", 5200, "AgentOffered", { agent: "ann", queue: "orders", attempt: 1 }));
  assert.equal(o.calls.get("q1").state, "offered");
  assert.equal(o.calls.get("q1").offered_to, "ann");
  assert.equal(o.agents.get("ann").call_id, "q1");
  feed(o, ev("q1", 5300, "AgentNoAnswer", { agent: "ann", cause: "no-answer" }));
  feed(o, ev("", 5300, "AgentPresence", { agent: "ann", presence: "away" }));
  assert.equal(o.calls.get("q1").state, "queued");
  assert.deepEqual([o.agents.get("ann").presence, o.agents.get("ann").call_id, o.agents.get("ann").since_ms], ["away", null, 10300]);
  feed(o, ev("", 5400, "AgentPresence", { agent: "ann", presence: "available" }));
  feed(o, ev("q1", 5500, "AgentOffered", { agent: "ann", queue: "orders", attempt: 2 }));
  const changed = feed(o, ev("q1", 5600, "AgentConnected", { agent: "ann" }));
  assert.deepEqual([...changed].sort(), ["agents", "calls", "queues"]);
  assert.equal(o.calls.get("q1").state, "connected");
  assert.equal(o.agents.get("ann").call_id, "q1");
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => [w.call_id, w.position]),
    [["q2", 1], ["n1", 2]],
  );
  feed(o, ev("q1", 5700, "SentimentChanged", { utterance_id: 1, score: -0.5, trend: -0.2 }));
  feed(o, ev("q1", 5800, "Alert", { rule: "legal", severity: "critical", label: "Legal threat", utterance_id: 1, channel: "caller", matched: "lawyer" }));
  feed(o, ev("q1", 5900, "Alert", { rule: "legal", severity: "critical", label: "Legal threat", utterance_id: 1, channel: "caller", matched: "lawyer" }));
  feed(o, ev("q1", 5950, "RecordingPaused", { reason: "api" }));
  assert.deepEqual(o.calls.get("q1").sentiment, { utterance_id: 1, score: -0.5, trend: -0.2 });
  assert.equal(o.calls.get("q1").alerts.length, 1);
  assert.equal(o.calls.get("q1").recording_paused, true);
  feed(o, ev("q1", 6000, "AgentLeft", { agent: "ann", by: "caller" }));
  assert.equal(o.agents.get("ann").call_id, null);
  feed(o, ev("q1", 6001, "CallEnded", { cause: "bye", hangup_by: "caller" }));
  assert.equal(o.calls.has("q1"), false);
});

test("queue positions reorder; overflow and hang-ups leave the queue", () => {
  seq = 20;
  const o = new Overview(snapshot(), NOW);
  feed(o, ev("q2", 5000, "QueuePosition", { queue: "orders", position: 1, waiting: 2 }));
  feed(o, ev("q1", 5000, "QueuePosition", { queue: "orders", position: 2, waiting: 2 }));
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => w.call_id),
    ["q2", "q1"],
  );
  feed(o, ev("q2", 5100, "CallOverflow", { queue: "orders", cause: "max-wait" }));
  assert.equal(o.calls.get("q2").state, "ivr");
  feed(o, ev("q1", 5200, "CallEnded", { cause: "bye", hangup_by: "caller" }));
  assert.equal(o.queueList()[0].waiting.length, 0);
  assert.equal(o.queueList()[0].oldest_ms, null);
});

test("events up to the snapshot's seq change nothing; unknown agents appear", () => {
  const o = new Overview(snapshot(), NOW);
  assert.equal(o.apply({ seq: 20, call_id: "q1", ts_ms: 1, type: "CallEnded" }, NOW).size, 0);
  assert.equal(o.calls.has("q1"), true);
  seq = 20;
  feed(o, ev("", 5000, "AgentPresence", { agent: "bob", presence: "away" }));
  assert.equal(o.agentList().map((a) => a.id).join(), "ann,bob");
});
