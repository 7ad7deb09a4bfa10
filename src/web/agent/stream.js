// Following koe's event stream (`GET /api/events`, a WebSocket) without a gap or a duplicate: it resumes
// after the last `seq` it passed on, drops anything at or before it, reconnects with a growing delay,
// and when koe says the resume point is gone or ahead (close 4001 / 4002, src/web/events_ws.rs) it asks
// the page to rebuild its state from the REST API and resumes after the `seq` that gave.

export const CLOSE_GAP = 4001;
export const CLOSE_AHEAD = 4002;

/** After a close with `code`: `resync` (state must be rebuilt) or `retry` (resume where it was). */
export const afterClose = (code) => (code === CLOSE_GAP || code === CLOSE_AHEAD ? "resync" : "retry");

/** Milliseconds to wait before reconnect attempt `n` (0, 1, …): 0.5 s doubling to 8 s. */
export const retryDelay = (n) => Math.min(8000, 500 * 2 ** Math.max(0, n));

/** Passes on each `seq` once, in order: true for an event not seen yet. */
export class SeqGate {
  constructor(last = 0) {
    this.last = last;
  }

  pass(ev) {
    if (typeof ev?.seq !== "number" || ev.seq <= this.last) return false;
    this.last = ev.seq;
    return true;
  }
}

export class EventStream {
  /**
   * `onEvent(ev, receivedAt)`: each new event (`receivedAt`: performance.now() when it arrived);
   * `onResync()`: rebuild state, resolve to the `seq` to follow after; `onStatus(s)`: `connecting`,
   * `live`, `reconnecting`, `resyncing` or `stopped`; `callId`: only that call's events.
   */
  constructor({ onEvent, onResync, onStatus = () => {}, callId = null }) {
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.callId = callId;
    this.gate = new SeqGate();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
  }

  get lastSeq() {
    return this.gate.last;
  }

  /** Follows the events after `seq`. */
  start(seq) {
    this.stop();
    this.stopped = false;
    this.gate = new SeqGate(seq);
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "page done");
    this.onStatus("stopped");
  }

  url() {
    const url = new URL("/api/events", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("after", String(this.gate.last));
    if (this.callId) url.searchParams.set("call_id", this.callId);
    return url;
  }

  open() {
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.onStatus("live");
    });
    ws.addEventListener("message", (msg) => {
      if (ws !== this.ws) return;
      const receivedAt = performance.now();
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (this.gate.pass(ev)) this.onEvent(ev, receivedAt);
    });
    ws.addEventListener("close", (e) => {
      if (ws !== this.ws || this.stopped) return;
      this.ws = null;
      if (afterClose(e.code) === "resync") this.resync();
      else this.retry();
    });
  }

  retry() {
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => this.open(), retryDelay(this.attempt++));
  }

  async resync() {
    this.onStatus("resyncing");
    try {
      const seq = await this.onResync();
      if (this.stopped) return;
      this.gate = new SeqGate(seq);
      this.attempt = 0;
      this.open();
    } catch {
      if (!this.stopped) this.timer = setTimeout(() => this.resync(), retryDelay(this.attempt++));
    }
  }
}
