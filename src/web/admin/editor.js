// The flow's JSON in a plain textarea with a line-number gutter that can mark lines: the selected node's
// lines, and lines with problems. The textarea does not wrap, so a line of text is a line of gutter.

export class JsonEditor {
  constructor(textarea, gutter, onInput) {
    this.area = textarea;
    this.gutter = gutter;
    this.lines = [];
    this.marks = { range: null, bad: new Set() };
    textarea.addEventListener("input", () => {
      this.#renumber();
      onInput(textarea.value);
    });
    textarea.addEventListener("scroll", () => {
      gutter.scrollTop = textarea.scrollTop;
    });
  }

  get text() {
    return this.area.value;
  }

  /** Replaces the text, keeping the scroll position (the inspector rewrites the JSON as one types). */
  setText(text) {
    if (this.area.value === text) return;
    const top = this.area.scrollTop;
    this.area.value = text;
    this.area.scrollTop = top;
    this.#renumber();
  }

  /** `range`: [first, last] lines of the selected node, or null; `bad`: lines with problems. */
  mark(range, bad) {
    this.marks = { range, bad };
    this.#paint();
  }

  /** Scrolls so that `line` (1-based) is in view, a few lines from the top. */
  reveal(line) {
    const lh = parseFloat(getComputedStyle(this.area).lineHeight) || 18;
    const top = (line - 1) * lh;
    const view = this.area.clientHeight;
    if (top < this.area.scrollTop || top > this.area.scrollTop + view - lh * 2) {
      this.area.scrollTop = Math.max(0, top - lh * 3);
    }
    this.gutter.scrollTop = this.area.scrollTop;
  }

  /** Selects characters [start, end) and moves the caret there (for "show in JSON"). */
  select(start, end) {
    this.area.focus({ preventScroll: true });
    this.area.setSelectionRange(start, end);
  }

  #renumber() {
    let count = 1;
    for (let i = 0; i < this.area.value.length; i++) if (this.area.value.charCodeAt(i) === 10) count++;
    if (count === this.lines.length) return;
    while (this.lines.length < count) {
      const div = document.createElement("div");
      div.textContent = String(this.lines.length + 1);
      this.lines.push(div);
      this.gutter.append(div);
    }
    while (this.lines.length > count) this.lines.pop().remove();
    this.#paint();
  }

  #paint() {
    const { range, bad } = this.marks;
    this.lines.forEach((div, i) => {
      const n = i + 1;
      div.classList.toggle("sel", range !== null && n >= range[0] && n <= range[1]);
      div.classList.toggle("bad", bad.has(n));
    });
  }
}
