// The transcript of a call as the screens show it: one line per (channel, utterance). A partial is
// replaced by later partials and by the final of the same utterance; a final settles the line, and any
// copy of it that comes again (a replay after a reconnect) changes nothing. Pure: no DOM.

const CHANNEL_ORDER = { caller: 0, agent: 1 };

export const lineKey = (channel, utteranceId) => `${channel}:${utteranceId}`;

/** Display order: by where the utterance starts in the call, then caller before agent. */
export function compareLines(a, b) {
  return (
    a.startMs - b.startMs ||
    (CHANNEL_ORDER[a.channel] ?? 2) - (CHANNEL_ORDER[b.channel] ?? 2) ||
    a.utteranceId - b.utteranceId
  );
}

export class TranscriptModel {
  constructor() {
    /** key → {key, channel, utteranceId, text, startMs, endMs, final} */
    this.lines = new Map();
  }

  /**
   * Takes a `Transcript` event, or an utterance of a call's context (those have no `kind`: finals).
   * Returns `{line, added}` when the screen must change, or null (a settled line, an identical copy).
   */
  apply(t) {
    const utteranceId = Number(t.utterance_id);
    if (typeof t.channel !== "string" || !Number.isFinite(utteranceId)) return null;
    const key = lineKey(t.channel, utteranceId);
    const old = this.lines.get(key);
    if (old?.final) return null;
    const line = {
      key,
      channel: t.channel,
      utteranceId,
      text: String(t.text ?? ""),
      startMs: Number(t.start_ms) || 0,
      endMs: Number(t.end_ms) || 0,
      final: t.kind !== "partial",
    };
    if (old && old.text === line.text && old.final === line.final && old.startMs === line.startMs) return null;
    this.lines.set(key, line);
    return { line, added: !old };
  }

  ordered() {
    return [...this.lines.values()].sort(compareLines);
  }

  /** The line `line` goes before on screen (the first that sorts after it), or null for the end. */
  successor(line) {
    let best = null;
    for (const other of this.lines.values()) {
      if (other.key === line.key || compareLines(other, line) < 0) continue;
      if (best === null || compareLines(other, best) < 0) best = other;
    }
    return best;
  }

  /** The settled lines, in display order. */
  finals() {
    return this.ordered().filter((l) => l.final);
  }
}
