// The supervisor's view: queues (callers in order, the longest wait), agents (presence, since when, on
// which call) and every live call (state, agent, sentiment, alerts); a call opens into its live
// transcript, drawn by the agent console's own modules. The overview comes from the REST API on load
// and after a resync, then follows the event stream.

import { api } from "/agent/api.js";
import { renderAlerts, renderSentiment } from "/agent/assist.js";
import { CallLoader, CallState } from "/agent/callstate.js";
import { $, counter, el, showConnection, startCounters } from "/agent/dom.js";
import { aRole, callStateLabel, callerNumber, clock, mood, presenceLabel, signed } from "/agent/format.js";
import { signedInPage, signOut } from "/agent/signin.js";
import { EventStream } from "/agent/stream.js";
import { TranscriptView } from "/agent/transcript.js";
import { Overview } from "./overview.js";

const page = signedInPage({
  roles: ["supervisor", "admin"],
  page: "Supervisors and admins.",
  refused: (me) => `${me.user} is ${aRole(me.role)}; this view is for supervisors and admins.`,
  enter,
  leave,
});
const { guard } = page;

const state = {
  overview: null,
  /** The call whose transcript is open (a CallState), or null. */
  watch: null,
  stream: null,
};

const loader = new CallLoader((id) => api.context(id));
const transcript = new TranscriptView($("watch-transcript"), $("watch-latest"));

/** The session ended: the board goes. */
function leave() {
  state.stream?.stop();
  $("board").hidden = true;
  $("account").hidden = true;
}

async function enter(user) {
  $("account-name").textContent = user.user;
  $("account").hidden = false;
  $("board").hidden = false;
  const seq = await rebuild();
  state.stream = new EventStream({ onEvent, onResync: rebuild, onStatus: showConnection });
  state.stream.start(seq);
}

/** The overview (and the open call) again from koe; resolves to the seq to follow after. */
async function rebuild() {
  loader.cancel();
  state.overview = new Overview(await api.overview(), Date.now());
  drawAll();
  if (state.watch) await openCall(state.watch.id);
  return state.overview.seq;
}

function onEvent(ev) {
  const changed = state.overview.apply(ev, Date.now());
  if (changed.has("queues")) drawQueues();
  if (changed.has("agents")) drawAgents();
  if (changed.has("calls")) drawCalls();
  if (loader.hold(ev)) return;
  const change = state.watch?.apply(ev);
  if (change) drawWatch(change);
}

// ---- the board -----------------------------------------------------------------------------------

function drawAll() {
  drawQueues();
  drawAgents();
  drawCalls();
}

function drawQueues() {
  const queues = state.overview.queueList();
  $("queues").replaceChildren(
    ...queues.map((q) =>
      el(
        "li",
        { className: `queue card${q.waiting.length ? " busy" : ""}`, data: { queue: q.name, waiting: q.waiting.length } },
        el(
          "div",
          { className: "queue-head" },
          el("h3", { text: q.name }),
          el("span", { className: "waiting-count", text: `${q.waiting.length} waiting` }),
        ),
        el("p", { className: "longest" }, "Longest wait ", q.oldest_ms === null ? el("span", { className: "counter", text: "–" }) : counter(q.oldest_ms, clock)),
        q.waiting.length
          ? el(
              "ol",
              { className: "callers" },
              ...q.waiting.map((w) =>
                el("li", { data: { call: w.call_id, position: w.position } }, el("span", { className: "num", title: state.overview.fromOf(w.call_id), text: callerNumber(state.overview.fromOf(w.call_id)) }), " ", counter(w.since_ms, clock)),
              ),
            )
          : null,
      ),
    ),
  );
  if (queues.length === 0) $("queues").append(el("li", { className: "muted empty", text: "No queues." }));
}

function drawAgents() {
  const rows = state.overview.agentList().map((a) =>
    el(
      "tr",
      { data: { agent: a.id, presence: a.presence } },
      el("th", { scope: "row" }, a.name ?? a.id, a.registered === false ? el("span", { className: "muted small phone-off", text: "phone not registered" }) : null),
      el("td", { className: "presence-cell" }, el("span", { className: `presence-tag p-${a.presence}`, text: presenceLabel(a.presence) })),
      el("td", {}, counter(a.since_ms, clock)),
      el("td", {}, a.call_id ? callButton(a.call_id, callerNumber(state.overview.calls.get(a.call_id)?.from ?? a.call_id)) : el("span", { className: "muted", text: "–" })),
    ),
  );
  $("agents").replaceChildren(...rows);
  $("agents-empty").hidden = rows.length > 0;
}

function drawCalls() {
  const calls = state.overview.callList();
  const rows = calls.map((c) => {
    const latest = c.alerts?.at(-1);
    const tr = el(
      "tr",
      { data: { call: c.call_id, state: c.state } },
      el("th", { scope: "row" }, callButton(c.call_id, callerNumber(c.from))),
      el("td", {}, el("span", { className: `state s-${c.state}`, text: callStateLabel(c.state) })),
      el("td", { text: c.queue ?? "–" }),
      el("td", { text: agentCell(c) }),
      el("td", {}, c.sentiment ? el("span", { className: `mood ${mood(c.sentiment.trend)}`, title: `trend ${signed(c.sentiment.trend)}`, text: `${mood(c.sentiment.trend)} ${signed(c.sentiment.trend)}` }) : el("span", { className: "muted", text: "–" })),
      el(
        "td",
        { className: "alerts-cell" },
        c.alerts?.length
          ? el("span", { className: `alert-count sev-${String(latest?.severity ?? "info").toLowerCase()}`, title: c.alerts.map((a) => a.label ?? a.rule).join(", "), text: `${c.alerts.length} · ${latest?.label ?? latest?.rule ?? ""}` })
          : el("span", { className: "muted", text: "–" }),
      ),
      el("td", {}, counter(c.started_ms, clock)),
    );
    if (state.watch?.id === c.call_id) tr.classList.add("watching");
    return tr;
  });
  $("calls").replaceChildren(...rows);
  $("calls-empty").hidden = rows.length > 0;
  $("calls-count").textContent = String(calls.length);
}

/** Who has the call, or whose phone rings for it. */
function agentCell(c) {
  const name = (id) => state.overview.agents.get(id)?.name ?? id;
  if (c.agent) return name(c.agent);
  return c.offered_to ? `ringing ${name(c.offered_to)}` : "–";
}

/** The caller as a button that opens the call's transcript. */
function callButton(callId, label) {
  const b = el("button", { type: "button", className: "link open-call", data: { call: callId }, text: label });
  b.setAttribute("aria-label", `Open the live transcript of ${label}`);
  b.addEventListener("click", guard(() => openCall(callId)));
  return b;
}

// ---- one call's live transcript ------------------------------------------------------------------

async function openCall(callId) {
  const call = await loader.load(callId, (ctx) => new CallState(ctx));
  if (!call) return;
  state.watch = call;
  $("watch").hidden = false;
  $("watch").dataset.call = callId;
  $("watch-title").textContent = `Call from ${callerNumber(call.from)}`;
  $("watch-title").title = call.from;
  transcript.load(call.transcript);
  drawWatch({ part: "alerts" });
  drawWatch({ part: "sentiment" });
  drawWatch({ part: "phase" });
  drawCalls();
  $("watch-close").focus();
}

function drawWatch({ part, change }) {
  const call = state.watch;
  switch (part) {
    case "transcript":
      transcript.show(call.transcript, change);
      break;
    case "alerts":
      renderAlerts($("watch-alerts"), call.alerts);
      break;
    case "sentiment":
      renderSentiment($("watch-sentiment"), call.sentiment, call.sentimentHistory);
      break;
    case "phase":
      $("watch-ended").hidden = call.phase !== "done";
      break;
  }
}

$("watch-close").addEventListener("click", () => {
  state.watch = null;
  loader.cancel();
  $("watch").hidden = true;
  drawCalls();
});
$("logout").addEventListener("click", () => signOut());

startCounters(clock);
page.start();
