import assert from "node:assert/strict";
import test from "node:test";
import { CLOSE_AHEAD, CLOSE_GAP, SeqGate, afterClose, retryDelay } from "../stream.js";

test("each seq passes once, in order; older and repeated ones are dropped", () => {
  const gate = new SeqGate(5);
  const seen = [3, 5, 6, 6, 7, 4, 9, 8].filter((seq) => gate.pass({ seq }));
  assert.deepEqual(seen, [6, 7, 9]);
  assert.equal(gate.last, 9);
  assert.equal(gate.pass({}), false, "no seq");
  assert.equal(gate.pass(null), false);
});

test("koe's gap and ahead closes rebuild state; anything else resumes", () => {
  assert.equal(afterClose(CLOSE_GAP), "resync");
  assert.equal(afterClose(CLOSE_AHEAD), "resync");
  assert.equal(CLOSE_GAP, 4001);
  assert.equal(CLOSE_AHEAD, 4002);
  for (const code of [1000, 1001, 1006, 1011]) assert.equal(afterClose(code), "retry");
});

test("reconnects back off, capped", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(retryDelay), [500, 1000, 2000, 4000, 8000, 8000]);
});
