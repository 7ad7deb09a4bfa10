// The agent console: presence, the incoming offer with the caller's context, the live call (transcript
// of both sides, suggestions, alerts, sentiment, transfer, recording pause) and the wrap-up. State comes
// from the REST API on load and after a resync, then from the event stream; the page survives a reload
// or a dropped connection without a gap or a duplicate.

import { api } from "./api.js";
import { renderAlerts, renderSentiment, renderSuggestions } from "./assist.js";
import { CallLoader, CallState } from "./callstate.js";
import { renderContext, renderOffer } from "./context.js";
import { $, notice, showConnection, startCounters } from "./dom.js";
import { callerNumber, clock, missedText, presenceLabel } from "./format.js";
import { signedInPage, signOut } from "./signin.js";
import { EventStream } from "./stream.js";
import { TranscriptView } from "./transcript.js";
import { TransferDialog } from "./transfer.js";
import { Wrapup } from "./wrapup.js";

const page = signedInPage({
  roles: ["agent", "supervisor", "admin"],
  page: "The agent console.",
  refused: (me) => `${me.user} may not use the agent console.`,
  enter,
  leave,
});
const { guard } = page;
/** sessionStorage: the last event seen and the call on screen, to finish a wrap-up after a reload. */
const SAVED = "koe.agent";
/** The phone's registration has no event: the agent's record is read again this often. */
const REFRESH_MS = 15000;

const state = {
  user: null,
  /** `GET /api/agent/me`, kept up to date by `AgentPresence`. */
  agent: null,
  /** The CallState on screen, or null. */
  call: null,
  stream: null,
  refresh: null,
};

/** For the browser test: when each final transcript's text reached the DOM (performance.now()). */
window.koeMetrics = { timeOrigin: performance.timeOrigin, finals: [] };
/** The event being handled, so that the transcript view can stamp the final it shows. */
let handling = null;

const loader = new CallLoader((id) => api.context(id));
const transcript = new TranscriptView($("transcript"), $("transcript-latest"), {
  labels: { caller: "Caller", agent: "You" },
  onFinal: () => {
    if (handling) window.koeMetrics.finals.push({ seq: handling.seq, receivedAt: handling.receivedAt, shownAt: performance.now() });
  },
});
const wrapup = new Wrapup({
  save: async (call, body) => {
    await api.wrapup(call.id, body);
    call.wrapup = body;
    call.to("done");
    showCall();
    notice("Wrap-up saved with the call.");
  },
  ready: () => setPresence("available"),
});
const transfer = new TransferDialog({
  send: async (target) => {
    await api.transfer(state.call.id, target);
    notice(`Transfer (${target.mode}) to ${target.agent ?? target.queue} asked.`);
  },
  targets: async () => {
    // Only supervisors and admins may list the agents; an agent types the id.
    if (state.user?.role === "agent") return [];
    const agents = await api.agents();
    return agents.filter((a) => a.id !== state.agent?.id).map((a) => [a.id, `${a.name} · ${presenceLabel(a.presence)}`]);
  },
});

// ---- saved position ------------------------------------------------------------------------------

function readSaved() {
  try {
    return JSON.parse(sessionStorage.getItem(SAVED) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function save(patch) {
  sessionStorage.setItem(SAVED, JSON.stringify({ ...readSaved(), ...patch }));
}

// ---- errors and sign-in --------------------------------------------------------------------------

/** The session ended: nothing of the console stays on screen or running. */
function leave() {
  state.stream?.stop();
  clearInterval(state.refresh);
  $("console-view").hidden = true;
  $("account").hidden = true;
}

async function enter(user) {
  state.user = user;
  $("account-name").textContent = user.user;
  $("account").hidden = false;
  $("console-view").hidden = false;
  let seq;
  try {
    seq = await rebuild();
  } catch (e) {
    if (e?.status === 404 || e?.status === 403) {
      showNoAgent(e.message);
      return;
    }
    throw e;
  }
  state.stream = new EventStream({ onEvent, onResync: rebuild, onStatus: showConnection });
  state.stream.start(seq);
  state.refresh = setInterval(guard(refreshAgent), REFRESH_MS);
}

function showNoAgent(why) {
  $("idle-title").textContent = "No agent profile";
  $("idle-text").textContent = `${state.user.user} cannot take calls here: ${why}`;
  showConnection("stopped");
}

// ---- state from the REST API ---------------------------------------------------------------------

const PHASE_OF_PRESENCE = { on_call: "connected", wrap_up: "wrapup" };

/** Everything again from koe: the agent, their call and its context. Resolves to the seq to follow. */
async function rebuild() {
  loader.cancel();
  const agent = await api.agentMe();
  state.agent = agent;
  showAgent();
  const saved = readSaved();
  let callId = agent.call_id ?? null;
  let phase = PHASE_OF_PRESENCE[agent.presence] ?? "offered";
  // A call whose wrap-up the agent had not saved when the page went away (koe may have let go of it).
  if (callId === null && saved.wrapup_call && Number(saved.seq) <= agent.seq) {
    callId = saved.wrapup_call;
    phase = "wrapup";
  }
  let call = null;
  if (callId !== null) {
    call = await loader.load(callId, (ctx) => new CallState(ctx, { agent: agent.id, phase: ctx.wrapup ? "done" : phase }));
    // A saved wrap-up of a call koe no longer gives the agent: nothing left to do on it.
    if (call?.phase === "done" && callId !== agent.call_id) call = null;
  }
  setCall(call);
  save({ seq: agent.seq });
  return agent.seq;
}

async function refreshAgent() {
  const agent = await api.agentMe();
  state.agent = { ...state.agent, presence: agent.presence, registered: agent.registered, name: agent.name };
  showAgent();
}

// ---- events --------------------------------------------------------------------------------------

function onEvent(ev, receivedAt) {
  save({ seq: ev.seq });
  const me = state.agent?.id;
  if (ev.type === "AgentPresence" && ev.agent === me) {
    state.agent.presence = ev.presence;
    showAgent();
    // Available or away again after a saved wrap-up: the call leaves the screen.
    if (state.call?.phase === "done" && (ev.presence === "available" || ev.presence === "away")) setCall(null);
  }
  if (loader.hold(ev)) return;
  // A new offer, or the same call offered again after this agent wrapped it up (a transfer to a queue
  // they serve): a fresh state from its context.
  const current = state.call?.id === ev.call_id && ["offered", "connected"].includes(state.call.phase);
  if (ev.type === "AgentOffered" && ev.agent === me && !current) {
    guard(openOffer)(ev.call_id);
    return;
  }
  const call = state.call;
  if (!call) return;
  handling = { seq: ev.seq, receivedAt };
  try {
    const change = call.apply(ev);
    if (change) draw(call, change);
  } finally {
    handling = null;
  }
}

async function openOffer(callId) {
  const call = await loader.load(callId, (ctx) => new CallState(ctx, { agent: state.agent.id, phase: "offered" }));
  if (call) setCall(call);
}

// ---- drawing -------------------------------------------------------------------------------------

function draw(call, { part, change }) {
  switch (part) {
    case "transcript":
      transcript.show(call.transcript, change);
      break;
    case "suggestions":
      renderSuggestions($("suggestions"), call.suggestions);
      wrapup.refresh();
      break;
    case "alerts":
      renderAlerts($("alerts"), call.alerts);
      break;
    case "sentiment":
      renderSentiment($("sentiment"), call.sentiment, call.sentimentHistory);
      break;
    case "recording":
      showRecording(call);
      break;
    case "context":
      showContext(call);
      break;
    case "summary":
      wrapup.refresh();
      break;
    case "phase":
      showContext(call);
      showCall();
      break;
  }
}

function setCall(call) {
  state.call = call;
  if (!call) {
    save({ wrapup_call: null });
    showCall();
    return;
  }
  showContext(call);
  transcript.load(call.transcript);
  renderSuggestions($("suggestions"), call.suggestions);
  renderAlerts($("alerts"), call.alerts);
  renderSentiment($("sentiment"), call.sentiment, call.sentimentHistory);
  showRecording(call);
  wrapup.reset(call);
  showCall();
}

function showContext(call) {
  renderOffer($("offer-card"), call);
  renderContext($("context"), call);
  $("call-caller").textContent = callerNumber(call.from);
  $("call-caller").title = call.from;
}

/** Which panels the call's phase shows, and what the agent may do in it. */
function showCall() {
  const call = state.call;
  const phase = call?.phase ?? null;
  if (phase === "gone") {
    notice(missedText(call.missed, callerNumber(call.from)));
    setCall(null);
    return;
  }
  $("idle").hidden = call !== null;
  $("call").hidden = call === null;
  $("offer").hidden = phase !== "offered";
  $("wrapup").hidden = phase !== "wrapup" && phase !== "done";
  $("call").dataset.phase = phase ?? "";
  $("call-phase").textContent = { offered: "Ringing", connected: "Connected", wrapup: "Wrap-up", done: "Wrapped up" }[phase] ?? "";
  const live = phase === "connected";
  $("transfer-open").disabled = !live;
  $("recording").disabled = !live;
  if (call) {
    wrapup.refresh();
    save({ wrapup_call: phase === "wrapup" ? call.id : null });
    if (phase === "wrapup" && !$("wrapup").contains(document.activeElement)) $("wrapup-reason").focus();
  }
  showAgent();
}

function showRecording(call) {
  const button = $("recording");
  button.setAttribute("aria-pressed", String(call.recordingPaused));
  button.textContent = call.recordingPaused ? "Resume recording" : "Pause recording";
  $("recording-state").hidden = !call.recordingPaused;
}

function showAgent() {
  const agent = state.agent;
  if (!agent) return;
  $("agent-bar").hidden = false;
  $("agent-name").textContent = agent.name ?? agent.id;
  const box = $("presence");
  box.dataset.presence = agent.presence;
  $("presence-state").textContent = presenceLabel(agent.presence);
  const onCall = agent.presence === "on_call" || state.call?.phase === "connected";
  const wrapping = state.call?.phase === "wrapup";
  for (const b of box.querySelectorAll("button[data-set]")) {
    b.setAttribute("aria-pressed", String(b.dataset.set === agent.presence));
    b.disabled = onCall || (wrapping && b.dataset.set === "available");
  }
  const phone = $("phone");
  phone.dataset.registered = String(Boolean(agent.registered));
  phone.textContent = agent.registered ? "Phone registered" : "Phone not registered";
  const idle = $("idle-text");
  if (!state.call) {
    $("idle-title").textContent = "No call";
    idle.textContent =
      agent.presence === "available"
        ? agent.registered
          ? "You are available: the next caller for your skills rings your phone."
          : "You are available, but your SIP phone is not registered: koe cannot ring it."
        : `You are ${presenceLabel(agent.presence).toLowerCase()}: set yourself available to take calls.`;
  }
}

async function setPresence(presence) {
  const agent = await api.setPresence(presence);
  state.agent = { ...state.agent, ...agent };
  if (state.call?.phase === "done") setCall(null);
  showAgent();
}

// ---- controls ------------------------------------------------------------------------------------

for (const b of $("presence").querySelectorAll("button[data-set]")) {
  b.addEventListener("click", guard(() => setPresence(b.dataset.set)));
}
$("recording").addEventListener(
  "click",
  guard(async () => {
    const call = state.call;
    const paused = !call.recordingPaused;
    await api.recording(call.id, paused);
    // The event confirms it; the button follows at once so a second click does what it says.
    call.recordingPaused = paused;
    showRecording(call);
  }),
);
$("transfer-open").addEventListener("click", guard(() => transfer.open()));
$("logout").addEventListener("click", () => signOut());

// ---- start ---------------------------------------------------------------------------------------

startCounters(clock);
page.start();
