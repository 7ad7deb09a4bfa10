import assert from "node:assert/strict";
import test from "node:test";
import { TranscriptModel } from "../transcript-model.js";

const t = (channel, id, kind, text, start = id * 1000) => ({
  type: "Transcript",
  channel,
  kind,
  utterance_id: id,
  text,
  start_ms: start,
  end_ms: start + 500,
});

test("partials are replaced in place, the final settles the line", () => {
  const m = new TranscriptModel();
  assert.deepEqual(m.apply(t("caller", 1, "partial", "my order")).added, true);
  const upd = m.apply(t("caller", 1, "partial", "my order is late"));
  assert.equal(upd.added, false);
  assert.equal(upd.line.text, "my order is late");
  const fin = m.apply(t("caller", 1, "final", "My order is late."));
  assert.equal(fin.added, false);
  assert.equal(fin.line.final, true);
  assert.equal(m.lines.size, 1);
  // A partial or a repeated final after the final changes nothing.
  assert.equal(m.apply(t("caller", 1, "partial", "my order")), null);
  assert.equal(m.apply(t("caller", 1, "final", "something else")), null);
  assert.equal(m.ordered()[0].text, "My order is late.");
});

test("an identical partial is no change", () => {
  const m = new TranscriptModel();
  m.apply(t("caller", 1, "partial", "hello"));
  assert.equal(m.apply(t("caller", 1, "partial", "hello")), null);
});

test("the same utterance id on both channels is two lines", () => {
  const m = new TranscriptModel();
  m.apply(t("caller", 1, "final", "Hello.", 100));
  m.apply(t("agent", 1, "final", "Hi, how can I help?", 900));
  assert.deepEqual(
    m.ordered().map((l) => l.key),
    ["caller:1", "agent:1"],
  );
});

test("lines are ordered by start in the call, caller first on a tie", () => {
  const m = new TranscriptModel();
  m.apply(t("agent", 2, "final", "b", 3000));
  m.apply(t("caller", 5, "final", "c", 5000));
  m.apply(t("caller", 4, "final", "a", 3000));
  m.apply(t("agent", 1, "final", "z", 1000));
  assert.deepEqual(
    m.ordered().map((l) => l.text),
    ["z", "a", "b", "c"],
  );
  const a = m.lines.get("caller:4");
  assert.equal(m.successor(a).text, "b");
  assert.equal(m.successor(m.lines.get("caller:5")), null);
});

test("context utterances (no kind) are finals", () => {
  const m = new TranscriptModel();
  m.apply({ channel: "caller", utterance_id: 3, text: "Stored.", start_ms: 10, end_ms: 20 });
  assert.equal(m.apply(t("caller", 3, "partial", "stor")), null);
  assert.equal(m.finals().length, 1);
});

test("malformed events are ignored, not thrown on", () => {
  const m = new TranscriptModel();
  assert.equal(m.apply({ type: "Transcript", text: "no channel" }), null);
  assert.equal(m.apply({ channel: "caller", utterance_id: "x", text: "bad id" }), null);
  assert.equal(m.lines.size, 0);
});
