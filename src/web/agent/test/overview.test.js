import assert from "node:assert/strict";
import test from "node:test";
import { Overview } from "../../supervisor/overview.js";

const snapshot = () => ({
  queues: [{ name: "orders", waiting: [{ call_id: "q2", from: "sip:2@x", since_ms: 200, position: 2 }, { call_id: "q1", from: "sip:1@x", since_ms: 100, position: 1 }], longest_wait_ms: 900 }],
  agents: [{ id: "ann", name: "Ann", presence: "available", since_ms: 50, call_id: null }],
  calls: [
    { call_id: "q1", from: "sip:1@x", state: "queued", queue: "orders", agent: null, started_at_ms: 90, sentiment: null, alerts: [] },
    { call_id: "q2", from: "sip:2@x", state: "queued", queue: "orders", agent: null, started_at_ms: 190, sentiment: null, alerts: [] },
  ],
  seq: 20,
});

let seq = 20;
const ev = (call_id, type, fields = {}) => ({ seq: ++seq, call_id, ts_ms: 0, type, ...fields });

test("the snapshot: callers in order, the longest wait from the first", () => {
  const o = new Overview(snapshot());
  const [orders] = o.queueList();
  assert.deepEqual(
    orders.waiting.map((w) => w.call_id),
    ["q1", "q2"],
  );
  assert.equal(orders.oldest_ms, 100);
});

test("a call from start to an agent and its end", () => {
  seq = 20;
  const o = new Overview(snapshot());
  assert.deepEqual([...o.apply(ev("n1", "CallStarted", { from: "sip:3@x", to: "sip:support@koe" }), 1000)], ["calls"]);
  assert.equal(o.calls.get("n1").state, "ivr");
  o.apply(ev("n1", "CallQueued", { queue: "orders", skills: [], language: "en", path: [], vars: {} }), 2000);
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => [w.call_id, w.position, w.since_ms]),
    [["q1", 1, 100], ["q2", 2, 200], ["n1", 3, 2000]],
  );
  o.apply(ev("q1", "AgentOffered", { agent: "ann", queue: "orders", attempt: 1 }), 2100);
  assert.equal(o.calls.get("q1").state, "offered");
  o.apply(ev("q1", "AgentNoAnswer", { agent: "ann", cause: "timeout" }), 2200);
  assert.equal(o.calls.get("q1").state, "queued");
  o.apply(ev("q1", "AgentOffered", { agent: "ann", queue: "orders", attempt: 2 }), 2300);
  const changed = o.apply(ev("q1", "AgentConnected", { agent: "ann" }), 2400);
  assert.deepEqual([...changed].sort(), ["agents", "calls", "queues"]);
  assert.equal(o.calls.get("q1").state, "connected");
  assert.equal(o.agents.get("ann").call_id, "q1");
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => [w.call_id, w.position]),
    [["q2", 1], ["n1", 2]],
  );
  o.apply(ev("q1", "AgentPresence", { agent: "ann", presence: "on_call" }), 2400);
  o.apply(ev("q1", "SentimentChanged", { utterance_id: 1, score: -0.5, trend: -0.2 }), 2500);
  o.apply(ev("q1", "Alert", { rule: "legal", severity: "high", label: "Legal threat", utterance_id: 1, text: "lawyer" }), 2600);
  assert.deepEqual(o.calls.get("q1").sentiment, { score: -0.5, trend: -0.2 });
  assert.equal(o.calls.get("q1").alerts[0].label, "Legal threat");
  o.apply(ev("q1", "CallEnded", { cause: "bye", hangup_by: "caller" }), 3000);
  assert.equal(o.calls.has("q1"), false);
  assert.equal(o.agents.get("ann").call_id, "q1", "the agent still wraps it up");
  o.apply(ev("", "AgentPresence", { agent: "ann", presence: "available" }), 3500);
  assert.deepEqual(o.agents.get("ann"), { id: "ann", name: "Ann", presence: "available", since_ms: 3500, call_id: null });
});

test("queue positions reorder; overflow and hang-ups leave the queue", () => {
  seq = 20;
  const o = new Overview(snapshot());
  o.apply(ev("q2", "QueuePosition", { queue: "orders", position: 1, waiting: 2 }), 500);
  o.apply(ev("q1", "QueuePosition", { queue: "orders", position: 2, waiting: 2 }), 500);
  assert.deepEqual(
    o.queueList()[0].waiting.map((w) => w.call_id),
    ["q2", "q1"],
  );
  o.apply(ev("q2", "CallOverflow", { queue: "orders", target: "voicemail" }), 600);
  assert.equal(o.calls.get("q2").state, "ivr");
  o.apply(ev("q1", "CallEnded", { cause: "bye", hangup_by: "caller" }), 700);
  assert.equal(o.queueList()[0].waiting.length, 0);
  assert.equal(o.queueList()[0].oldest_ms, null);
});

test("events up to the snapshot's seq change nothing; unknown agents appear", () => {
  const o = new Overview(snapshot());
  assert.equal(o.apply({ seq: 20, call_id: "q1", type: "CallEnded" }, 1).size, 0);
  assert.equal(o.calls.has("q1"), true);
  seq = 20;
  o.apply(ev("", "AgentPresence", { agent: "bob", presence: "away" }), 10);
  assert.equal(o.agentList().map((a) => a.id).join(), "ann,bob");
});
