import assert from "node:assert/strict";
import test from "node:test";
import { aRole, callerNumber, clock, direction, missedText, mood, nodeName, signed } from "../format.js";

test("clock reads mm:ss, then h:mm:ss", () => {
  assert.equal(clock(0), "00:00");
  assert.equal(clock(65_400), "01:05");
  assert.equal(clock(3_600_000 + 61_000), "1:01:01");
  assert.equal(clock(-5), "00:00");
  assert.equal(clock(undefined), "00:00");
});

test("caller numbers come out of SIP URIs", () => {
  assert.equal(callerNumber("sip:+8190123@carrier.example;user=phone"), "+8190123");
  assert.equal(callerNumber('"Ann" <sip:ann@example.com>;tag=1'), "ann");
  assert.equal(callerNumber("tel:+1555"), "+1555");
  assert.equal(callerNumber("+44 20"), "+44 20");
  assert.equal(callerNumber(null), "");
});

test("sentiment words, signs and directions", () => {
  assert.equal(mood(-0.6), "negative");
  assert.equal(mood(0.1), "neutral");
  assert.equal(mood(0.4), "positive");
  assert.equal(mood(undefined), "unknown");
  assert.equal(signed(-0.5), "−0.50");
  assert.equal(signed(0.25), "+0.25");
  assert.equal(direction(-0.2, 0.1), "rising");
  assert.equal(direction(0.1, -0.2), "falling");
  assert.equal(direction(0.1, 0.12), "steady");
});

test("IVR steps as names or objects; roles with articles", () => {
  assert.equal(nodeName("main_menu"), "main_menu");
  assert.equal(nodeName({ node: "welcome", at_ms: 3 }), "welcome");
  assert.equal(aRole("agent"), "an agent");
  assert.equal(aRole("supervisor"), "a supervisor");
});

test("a missed offer says why", () => {
  assert.match(missedText("no-answer", "+8190"), /did not answer the call from \+8190 in time/);
  assert.match(missedText("caller-left", "+8190"), /hung up before you answered/);
  assert.match(missedText("declined", "+8190"), /refused .*\(declined\)/);
  assert.match(missedText("something-new", "+8190"), /no longer offered to you \(something-new\)/);
});
