// The supervisor's picture of the line: queues with their callers in order, agents and their presence,
// every live call. It starts from `GET /api/supervisor/overview` and follows the events after that
// answer's `seq`. Pure: the wall-clock time of an event's arrival is an argument (events carry koe's
// monotonic clock, not the time of day).

const BUSY = new Set(["on_call", "wrap_up"]);

export class Overview {
  constructor(snapshot) {
    this.seq = Number(snapshot.seq) || 0;
    this.queues = new Map();
    for (const q of snapshot.queues ?? []) {
      this.queues.set(q.name, { name: q.name, waiting: [...(q.waiting ?? [])].sort(byPosition) });
    }
    this.agents = new Map((snapshot.agents ?? []).map((a) => [a.id, { ...a }]));
    this.calls = new Map((snapshot.calls ?? []).map((c) => [c.call_id, { alerts: [], ...c }]));
  }

  queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, { name, waiting: [] });
    return this.queues.get(name);
  }

  /** Removes the call from every queue's waiting list; true if it was in one. */
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
    if (!this.agents.has(id)) this.agents.set(id, { id, name: id, presence: "offline", since_ms: null, call_id: null });
    return this.agents.get(id);
  }

  /**
   * Applies an event that arrived at `nowMs`; returns the set of parts to redraw (`queues`, `agents`,
   * `calls`), empty for an event already in the snapshot or one that changes nothing here.
   */
  apply(ev, nowMs) {
    const changed = new Set();
    if (!(ev.seq > this.seq)) return changed;
    this.seq = ev.seq;
    const id = ev.call_id;
    const call = this.calls.get(id);
    switch (ev.type) {
      case "CallStarted":
        this.calls.set(id, { call_id: id, from: ev.from, state: "ivr", queue: null, agent: null, started_at_ms: nowMs, sentiment: null, alerts: [] });
        changed.add("calls");
        break;
      case "CallQueued": {
        if (call) Object.assign(call, { state: "queued", queue: ev.queue, agent: null });
        const q = this.queue(ev.queue);
        if (!q.waiting.some((w) => w.call_id === id)) {
          q.waiting.push({ call_id: id, from: call?.from ?? "", since_ms: nowMs, position: q.waiting.length + 1 });
        }
        changed.add("calls").add("queues");
        break;
      }
      case "QueuePosition": {
        const q = this.queue(ev.queue);
        const w = q.waiting.find((x) => x.call_id === id);
        if (w) w.position = ev.position;
        else q.waiting.push({ call_id: id, from: call?.from ?? "", since_ms: nowMs, position: ev.position });
        q.waiting.sort(byPosition);
        changed.add("queues");
        break;
      }
      case "AgentOffered":
        if (call) Object.assign(call, { state: "offered", agent: ev.agent });
        changed.add("calls");
        break;
      case "AgentNoAnswer":
        if (call && call.agent === ev.agent) Object.assign(call, { state: "queued", agent: null });
        changed.add("calls");
        break;
      case "AgentConnected":
        if (call) Object.assign(call, { state: "connected", agent: ev.agent });
        if (this.dequeue(id)) changed.add("queues");
        this.agent(ev.agent).call_id = id;
        changed.add("calls").add("agents");
        break;
      case "AgentLeft":
        if (call && call.agent === ev.agent) call.agent = null;
        changed.add("calls");
        break;
      case "CallOverflow":
        if (call) Object.assign(call, { state: "ivr", queue: null });
        this.dequeue(id);
        changed.add("calls").add("queues");
        break;
      case "CallEnded":
        this.calls.delete(id);
        if (this.dequeue(id)) changed.add("queues");
        changed.add("calls");
        break;
      case "AgentPresence": {
        const a = this.agent(ev.agent);
        a.presence = ev.presence;
        a.since_ms = nowMs;
        if (!BUSY.has(ev.presence)) a.call_id = null;
        changed.add("agents");
        break;
      }
      case "SentimentChanged":
        if (call) call.sentiment = { score: ev.score, trend: ev.trend };
        changed.add("calls");
        break;
      case "Alert":
        if (call) call.alerts = [...(call.alerts ?? []), { rule: ev.rule, severity: ev.severity, label: ev.label, text: ev.text }];
        changed.add("calls");
        break;
      default:
        break;
    }
    return changed;
  }

  /** Queues by name, each with its longest wait (the first caller's `since_ms`, or null). */
  queueList() {
    return [...this.queues.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((q) => ({ ...q, oldest_ms: q.waiting.reduce((m, w) => (typeof w.since_ms === "number" && (m === null || w.since_ms < m) ? w.since_ms : m), null) }));
  }

  agentList() {
    return [...this.agents.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }

  /** Live calls, oldest first. */
  callList() {
    return [...this.calls.values()].sort((a, b) => (a.started_at_ms ?? 0) - (b.started_at_ms ?? 0));
  }
}

function byPosition(a, b) {
  return (a.position ?? 0) - (b.position ?? 0);
}
