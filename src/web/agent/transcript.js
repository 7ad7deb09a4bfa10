// The live transcript on screen, shared by the agent console and the supervisor's view: a chat of both
// sides, partials in place in a lighter style, finals settled, timestamps from the call's start. It
// follows the newest line unless the reader has scrolled up, and then offers a jump back.

import { el } from "./dom.js";
import { clock } from "./format.js";

const LABELS = { caller: "Caller", agent: "Agent" };
/** How close to the bottom (px) still counts as following the conversation. */
const FOLLOW_SLACK_PX = 32;

export class TranscriptView {
  /**
   * `list`: the `<ol>` that scrolls; `latest`: a button shown when new lines arrive while scrolled up;
   * `onFinal(line)`: called once a final's text is in the DOM.
   */
  constructor(list, latest, { labels = LABELS, onFinal = () => {} } = {}) {
    this.list = list;
    this.latest = latest;
    this.labels = labels;
    this.onFinal = onFinal;
    this.items = new Map();
    latest.addEventListener("click", () => this.scrollToEnd());
    list.addEventListener("scroll", () => {
      if (this.atEnd()) latest.hidden = true;
    });
  }

  /** Shows `model` from scratch (a new call, or state rebuilt after a reload). */
  load(model) {
    this.items.clear();
    const lines = model.ordered();
    this.list.replaceChildren(...lines.map((l) => this.item(l)));
    this.latest.hidden = true;
    this.scrollToEnd();
  }

  /** Shows one change from `TranscriptModel.apply`. */
  show(model, { line }) {
    const follow = this.atEnd();
    let li = this.items.get(line.key);
    if (li) {
      this.fill(li, line);
    } else {
      li = this.item(line);
    }
    // (Re)placed where it sorts: a partial's start may move when its final comes.
    const next = model.successor(line);
    const before = next ? this.items.get(next.key) : null;
    if (li.nextElementSibling !== before || li.parentNode !== this.list) this.list.insertBefore(li, before ?? null);
    if (line.final) this.onFinal(line);
    if (follow) this.scrollToEnd();
    else if (!li.nextElementSibling) this.latest.hidden = false;
  }

  item(line) {
    const li = el(
      "li",
      { data: { channel: line.channel, utterance: line.utteranceId } },
      el(
        "div",
        { className: "line-meta" },
        el("span", { className: "who", text: this.labels[line.channel] ?? line.channel }),
        el("time", { className: "at" }),
      ),
      el("p", { className: "text" }),
    );
    this.items.set(line.key, li);
    this.fill(li, line);
    return li;
  }

  fill(li, line) {
    li.className = `line ${line.channel} ${line.final ? "final" : "partial"}`;
    li.dataset.kind = line.final ? "final" : "partial";
    li.toggleAttribute("aria-busy", !line.final);
    const at = li.querySelector(".at");
    at.textContent = clock(line.startMs);
    at.dateTime = `PT${Math.floor(line.startMs / 1000)}S`;
    li.querySelector(".text").textContent = line.text;
  }

  atEnd() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight <= FOLLOW_SLACK_PX;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    this.latest.hidden = true;
  }
}
