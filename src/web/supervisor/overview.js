// The supervisor's picture of the line: queues with their callers in order, agents and their presence,
// every live call. It starts from `GET /api/supervisor/overview` and follows the events after that
// answer's `seq`, as koe's own live view (src/live.rs) does. Pure: the wall-clock time is an argument.
//
// koe's times come in two kinds: durations measured when the snapshot was made (`waited_ms`,
// `since_ms`), and its monotonic event clock (`ts_ms`, `started_ts_ms`). Both become wall-clock times
// here; the event clock through its offset, learnt from the snapshot's waiting callers and from each
// event's arrival (the smallest gap seen is the closest to the truth).

export class Overview {
  constructor(snapshot, nowMs) {
    this.seq = Number(snapshot.seq) || 0;
    /** Wall-clock ms minus koe's event clock, once known. */
    this.offset = null;
    this.calls = new Map((snapshot.calls ?? []).map((c) => [c.call_id, { ...c, alerts: [...(c.alerts ?? [])] }]));
    this.queues = new Map();
    for (const q of snapshot.queues ?? []) {
      const waiting = (q.waiting ?? []).map((w) => {
        const since = nowMs - (Number(w.waited_ms) || 0);
        const queuedTs = this.calls.get(w.call_id)?.queued_ts_ms;
        if (typeof queuedTs === "number") this.learn(since - queuedTs);
        return { call_id: w.call_id, since_ms: since, position: w.position, offered_to: w.offered_to ?? null };
      });
      this.queues.set(q.name, { name: q.name, waiting: waiting.sort(byPosition) });
    }
    this.agents = new Map((snapshot.agents ?? []).map((a) => [a.id, { ...a, since_ms: nowMs - (Number(a.since_ms) || 0) }]));
  }

  learn(offset) {
    if (Number.isFinite(offset) && (this.offset === null || offset < this.offset)) this.offset = offset;
  }

  /** A time of koe's event clock on the wall clock, or null while the offset is unknown. */
  wall(tsMs) {
    return this.offset === null || typeof tsMs !== "number" ? null : tsMs + this.offset;
  }

  queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, { name, waiting: [] });
    return this.queues.get(name);
  }

  waiting(callId) {
    for (const q of this.queues.values()) {
      const w = q.waiting.find((x) => x.call_id === callId);
      if (w) return w;
    }
    return null;
  }

  /** Removes the call from the queues; true if it was waiting in one. */
  dequeue(callId) {
    let found = false;
    for (const q of this.queues.values()) {
      const before = q.waiting.length;
      q.waiting = q.waiting.filter((w) => w.call_id !== callId);
      if (q.waiting.length !== before) {
        found = true;
        q.waiting.forEach((w, i) => (w.position = i + 1));
      }
    }
    return found;
  }

  agent(id) {
    if (!this.agents.has(id)) this.agents.set(id, { id, name: id, presence: "away", since_ms: null, registered: false, call_id: null });
    return this.agents.get(id);
  }

  /**
   * Applies an event that arrived at `nowMs`; returns the set of parts to redraw (`queues`, `agents`,
   * `calls`), empty for an event the snapshot already had or one that changes nothing here.
   */
  apply(ev, nowMs) {
    const changed = new Set();
    if (!(ev.seq > this.seq)) return changed;
    this.seq = ev.seq;
    this.learn(nowMs - ev.ts_ms);
    const at = this.wall(ev.ts_ms);
    const id = ev.call_id;
    const call = this.calls.get(id);
    const agentOf = (name) => (name ? this.agent(name) : null);
    switch (ev.type) {
      case "CallStarted":
        this.calls.set(id, {
          call_id: id,
          from: ev.from,
          started_ts_ms: ev.ts_ms,
          queued_ts_ms: null,
          state: "ringing",
          queue: null,
          language: null,
          agent: null,
          offered_to: null,
          recording_paused: false,
          sentiment: null,
          alerts: [],
        });
        changed.add("calls");
        break;
      case "CallAnswered":
      case "IvrEntered":
        if (call?.state === "ringing") {
          call.state = "ivr";
          changed.add("calls");
        }
        break;
      case "CallQueued": {
        if (call) Object.assign(call, { state: "queued", queue: ev.queue, language: ev.language, queued_ts_ms: ev.ts_ms });
        const q = this.queue(ev.queue);
        if (!q.waiting.some((w) => w.call_id === id)) q.waiting.push({ call_id: id, since_ms: at, position: q.waiting.length + 1, offered_to: null });
        changed.add("calls").add("queues");
        break;
      }
      case "QueuePosition": {
        const q = this.queue(ev.queue);
        const w = q.waiting.find((x) => x.call_id === id);
        if (w) w.position = ev.position;
        else q.waiting.push({ call_id: id, since_ms: at, position: ev.position, offered_to: null });
        q.waiting.sort(byPosition);
        changed.add("queues");
        break;
      }
      case "AgentOffered": {
        if (call) {
          call.offered_to = ev.agent;
          if (!call.agent) call.state = "offered";
        }
        const w = this.waiting(id);
        if (w) w.offered_to = ev.agent;
        agentOf(ev.agent).call_id = id;
        changed.add("calls").add("queues").add("agents");
        break;
      }
      case "AgentNoAnswer": {
        if (call) {
          call.offered_to = null;
          if (!call.agent) call.state = "queued";
        }
        const w = this.waiting(id);
        if (w) w.offered_to = null;
        const a = agentOf(ev.agent);
        if (a.call_id === id) a.call_id = null;
        changed.add("calls").add("queues").add("agents");
        break;
      }
      case "AgentConnected":
        if (call) Object.assign(call, { state: "connected", agent: ev.agent, offered_to: null });
        this.dequeue(id);
        agentOf(ev.agent).call_id = id;
        changed.add("calls").add("queues").add("agents");
        break;
      case "AgentLeft": {
        if (call && call.agent === ev.agent) Object.assign(call, { agent: null, state: "queued" });
        const a = agentOf(ev.agent);
        if (a.call_id === id) a.call_id = null;
        changed.add("calls").add("agents");
        break;
      }
      case "CallOverflow":
        if (call) call.state = "ivr";
        this.dequeue(id);
        changed.add("calls").add("queues");
        break;
      case "RecordingPaused":
      case "RecordingResumed":
        if (call) call.recording_paused = ev.type === "RecordingPaused";
        changed.add("calls");
        break;
      case "CallEnded":
        this.calls.delete(id);
        this.dequeue(id);
        changed.add("calls").add("queues");
        break;
      case "AgentPresence": {
        const a = agentOf(ev.agent);
        a.presence = ev.presence;
        a.since_ms = at;
        changed.add("agents");
        break;
      }
      case "SentimentChanged":
        if (call) call.sentiment = { utterance_id: ev.utterance_id, score: ev.score, trend: ev.trend };
        changed.add("calls");
        break;
      case "Alert":
        if (call && !call.alerts.some((a) => a.rule === ev.rule && a.utterance_id === ev.utterance_id)) {
          call.alerts.push({ rule: ev.rule, severity: ev.severity, label: ev.label, channel: ev.channel, utterance_id: ev.utterance_id, matched: ev.matched });
        }
        changed.add("calls");
        break;
      default:
        break;
    }
    return changed;
  }

  /** Queues by name, each with the wall-clock time its longest-waiting caller came (or null). */
  queueList() {
    return [...this.queues.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((q) => ({ ...q, oldest_ms: q.waiting.reduce((m, w) => (typeof w.since_ms === "number" && (m === null || w.since_ms < m) ? w.since_ms : m), null) }));
  }

  agentList() {
    return [...this.agents.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }

  /** Live calls, oldest first, each with `started_ms` on the wall clock (null while unknown). */
  callList() {
    return [...this.calls.values()]
      .sort((a, b) => (a.started_ts_ms ?? 0) - (b.started_ts_ms ?? 0))
      .map((c) => ({ ...c, started_ms: this.wall(c.started_ts_ms) }));
  }

  /** A caller's `from`, for a waiting entry (which has only the call id). */
  fromOf(callId) {
    return this.calls.get(callId)?.from ?? callId;
  }
}

function byPosition(a, b) {
  return (a.position ?? 0) - (b.position ?? 0);
}
