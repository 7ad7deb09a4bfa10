// One call as a console shows it: the context koe answered (`GET /api/calls/{id}/context`), brought up to
// date by the call's events after that answer's `seq`. Pure: no DOM, no fetch, no clock.

import { TranscriptModel } from "./transcript-model.js";

/**
 * What an agent sees of the call: `offered` (their phone rings), `connected`, `wrapup` (the call or
 * their leg ended; the wrap-up is due), `done` (wrap-up saved), `gone` (the offer ended unanswered).
 * A supervisor (no `agent`) watches: `live`, then `done` when the call ends.
 */
export class CallState {
  constructor(ctx, { agent = null, phase = null } = {}) {
    const live = ctx.live ?? {};
    this.id = ctx.call_id;
    this.seq = Number(ctx.seq) || 0;
    this.agent = agent;
    this.from = ctx.from ?? "";
    this.number = ctx.number ?? null;
    this.startedAtMs = ctx.started_at_ms ?? null;
    this.ended = ctx.ended_at_ms !== null && ctx.ended_at_ms !== undefined;
    this.queue = ctx.service?.queue ?? live.queue ?? null;
    this.queuedAtMs = ctx.service?.queued_at_ms ?? null;
    this.withAgent = live.agent ?? ctx.service?.agent ?? null;
    this.attempt = ctx.service?.offers?.length || null;
    this.ivr = ctx.ivr ?? null;
    this.vars = { ...(ctx.ivr?.vars ?? {}) };
    this.history = Array.isArray(ctx.history) ? ctx.history : [];
    this.transcript = new TranscriptModel();
    for (const u of ctx.transcript ?? []) this.transcript.apply(u);
    this.suggestions = suggestionList(live.suggestions);
    this.alerts = [];
    for (const a of live.alerts ?? []) this.addAlert(a);
    this.sentiment = null;
    this.sentimentHistory = [];
    if (live.sentiment) this.addSentiment(live.sentiment);
    this.recordingPaused = Boolean(live.recording_paused);
    this.wrapup = ctx.wrapup ?? null;
    this.summary = ctx.summary ?? null;
    this.transferredTo = null;
    /** Why an offer went away: the `AgentNoAnswer` cause, or `caller-left`. */
    this.missed = null;
    this.phase = phase ?? (agent === null ? (this.ended ? "done" : "live") : this.wrapup ? "done" : "offered");
  }

  /** An alert once per rule and utterance: events after the context's seq may repeat what it had. */
  addAlert(a) {
    if (this.alerts.some((x) => x.rule === a.rule && x.utterance_id === a.utterance_id)) return false;
    this.alerts.push({ rule: a.rule, severity: a.severity, label: a.label, channel: a.channel, utterance_id: a.utterance_id, matched: a.matched });
    return true;
  }

  addSentiment(s) {
    const last = this.sentimentHistory.at(-1);
    if (last && s.utterance_id !== undefined && last.utterance_id === s.utterance_id) return false;
    this.sentiment = { utterance_id: s.utterance_id, score: s.score, trend: s.trend };
    this.sentimentHistory.push(this.sentiment);
    return true;
  }

  /** Whether the event is about a person: this console's agent, or any when there is none. */
  mine(ev) {
    return this.agent === null || ev.agent === this.agent;
  }

  /**
   * Applies one event; returns the names of the parts that changed (`transcript` with the model's
   * change, `suggestions`, `alerts`, `sentiment`, `recording`, `context`, `phase`, `summary`), or null
   * when the event is another call's, already in the context, or changes nothing.
   */
  apply(ev) {
    if (ev.call_id !== this.id || !(ev.seq > this.seq)) return null;
    this.seq = ev.seq;
    switch (ev.type) {
      case "Transcript": {
        const change = this.transcript.apply(ev);
        return change ? { part: "transcript", change } : null;
      }
      case "Suggestion":
        this.suggestions = suggestionList(ev);
        return { part: "suggestions" };
      case "Alert":
        return this.addAlert(ev) ? { part: "alerts" } : null;
      case "SentimentChanged":
        return this.addSentiment(ev) ? { part: "sentiment" } : null;
      case "RecordingPaused":
      case "RecordingResumed":
        this.recordingPaused = ev.type === "RecordingPaused";
        return { part: "recording" };
      case "IvrVariable":
        this.vars[ev.name] = ev.value;
        return { part: "context" };
      case "CallQueued":
        this.queue = ev.queue;
        return { part: "context" };
      case "Summary":
        this.summary = ev.summary ?? null;
        return { part: "summary" };
      case "CallTransferred":
        this.transferredTo = ev.target;
        return { part: "context" };
      case "WrapUpSaved":
        if (!this.mine(ev)) return null;
        this.wrapup = { reason: ev.reason, disposition: ev.disposition, notes: ev.notes };
        return this.to("done");
      case "AgentOffered":
        this.withAgent = ev.agent;
        if (!this.mine(ev)) return null;
        this.attempt = ev.attempt ?? null;
        return this.to("offered");
      case "AgentConnected":
        this.withAgent = ev.agent;
        return this.mine(ev) ? this.to(this.agent === null ? "live" : "connected") : { part: "context" };
      case "AgentNoAnswer":
        if (!this.mine(ev) || this.agent === null || this.phase !== "offered") return null;
        this.missed = ev.cause ?? "no-answer";
        return this.to("gone");
      case "AgentLeft":
        if (!this.mine(ev) || this.agent === null) return null;
        return this.phase === "connected" ? this.to("wrapup") : this.to("gone");
      case "CallEnded":
        this.ended = true;
        if (this.agent === null) return this.to("done");
        if (this.phase === "connected") return this.to("wrapup");
        if (this.phase !== "offered") return { part: "context" };
        this.missed = "caller-left";
        return this.to("gone");
      default:
        return null;
    }
  }

  to(phase) {
    if (this.phase === phase) return null;
    this.phase = phase;
    return { part: "phase" };
  }

  /** The reason to prefill the wrap-up with: the top suggestion's title, else what the caller said. */
  suggestedReason() {
    return this.suggestions[0]?.title ?? this.summary?.reason ?? this.vars.spoken_reason ?? "";
  }
}

/** The ranked list of a `Suggestion` event, or of the same fields as the context keeps them. */
function suggestionList(x) {
  if (Array.isArray(x)) return x;
  return Array.isArray(x?.suggestions) ? x.suggestions : [];
}

/**
 * Fetches a call's context while the event stream keeps running: events of that call that arrive in
 * the meantime are held and applied after it (the state drops those the context already had).
 */
export class CallLoader {
  constructor(fetchContext) {
    this.fetchContext = fetchContext;
    this.loading = null;
    this.held = [];
  }

  /** The call's state, or null when another load started meanwhile. */
  async load(callId, make) {
    this.loading = callId;
    this.held = [];
    let ctx;
    try {
      ctx = await this.fetchContext(callId);
    } catch (e) {
      if (this.loading === callId) this.cancel();
      throw e;
    }
    if (this.loading !== callId) return null;
    const state = make(ctx);
    for (const ev of this.held) state.apply(ev);
    this.loading = null;
    this.held = [];
    return state;
  }

  /** Takes an event if its call is loading; true when held. */
  hold(ev) {
    if (this.loading === null || ev.call_id !== this.loading) return false;
    this.held.push(ev);
    return true;
  }

  cancel() {
    this.loading = null;
    this.held = [];
  }
}
