// A JSON parser that also remembers where every value is in the text, so that a validation issue's path
// (or a selected node) can be shown at its line in the editor. Values are the same as JSON.parse's.

export class JsonSyntaxError extends Error {
  constructor(message, offset, line, column) {
    super(`line ${line}, column ${column}: ${message}`);
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = [["true", true], ["false", false], ["null", null]];

/** A path (array of keys and indices) as a map key. */
export const pathKey = (segments) => JSON.stringify(segments);

/** Line starts of `text`, for offset → line (1-based). */
export class Lines {
  constructor(text) {
    this.starts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  get count() {
    return this.starts.length;
  }
  lineOf(offset) {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Parses `text`; returns `{ value, spans }` where spans maps pathKey → { start, end } offsets. */
export function parseWithPositions(text) {
  const spans = new Map();
  const lines = new Lines(text);
  let i = 0;

  const fail = (message) => {
    const line = lines.lineOf(i);
    throw new JsonSyntaxError(message, i, line, i - lines.starts[line - 1] + 1);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const unexpected = () => fail(i >= text.length ? "the text ends too early" : `unexpected ${JSON.stringify(text[i])}`);
  const expect = (c) => {
    ws();
    if (text[i] !== c) fail(`expected ${JSON.stringify(c)}`);
    i++;
  };
  const token = (re) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return null;
    i = re.lastIndex;
    return m[0];
  };
  const string = () => {
    const s = token(STRING);
    if (s === null) fail("bad string (unescaped control character or bad escape?)");
    return JSON.parse(s);
  };

  const value = (path) => {
    ws();
    const start = i;
    let v;
    const c = text[i];
    if (c === "{") v = object(path);
    else if (c === "[") v = array(path);
    else if (c === '"') v = string();
    else if (c === "-" || (c >= "0" && c <= "9")) v = Number(token(NUMBER) ?? unexpected());
    else {
      const lit = LITERALS.find(([word]) => text.startsWith(word, i));
      if (!lit) unexpected();
      i += lit[0].length;
      v = lit[1];
    }
    spans.set(pathKey(path), { start, end: i });
    return v;
  };

  const object = (path) => {
    i++;
    const out = {};
    ws();
    if (text[i] === "}") {
      i++;
      return out;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail("expected a key in double quotes");
      const key = string();
      expect(":");
      // defineProperty: a key "__proto__" stays a plain key, as with JSON.parse.
      Object.defineProperty(out, key, { value: value([...path, key]), writable: true, enumerable: true, configurable: true });
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return out;
      }
      fail("expected ',' or '}'");
    }
  };

  const array = (path) => {
    i++;
    const out = [];
    ws();
    if (text[i] === "]") {
      i++;
      return out;
    }
    for (;;) {
      out.push(value([...path, out.length]));
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return out;
      }
      fail("expected ',' or ']'");
    }
  };

  const v = value([]);
  ws();
  if (i < text.length) fail("unexpected text after the end");
  return { value: v, spans, lines };
}

/**
 * Splits an issue's path into segments. Accepts `a.b[0].c`, `$.a.b`, `a["x.y"]` and JSON pointers
 * (`/a/b/0`), since validators write paths in different ways.
 */
export function parsePath(path) {
  const s = (path ?? "").trim();
  if (s === "" || s === "$") return [];
  if (s.startsWith("/")) {
    return s
      .slice(1)
      .split("/")
      .map((seg) => seg.replace(/~1/g, "/").replace(/~0/g, "~"));
  }
  const out = [];
  const re = /\[(\d+)\]|\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]|\.?([^.[\]]+)/y;
  const rest = s.replace(/^\$\.?/, "");
  re.lastIndex = 0;
  let m;
  while (re.lastIndex < rest.length && (m = re.exec(rest))) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else out.push(m[2] ?? m[3] ?? m[4]);
  }
  return out;
}

/**
 * The deepest value of `segments` that exists in `spans`: `{ span, path }`, where `path` is the part
 * of `segments` that resolved (numbers for array indices).
 */
export function locate(spans, segments) {
  let path = [];
  for (const seg of segments) {
    const asIndex = typeof seg === "number" || /^\d+$/.test(seg) ? Number(seg) : null;
    const candidates = asIndex === null ? [seg] : [asIndex, String(seg)];
    const next = candidates.map((c) => [...path, c]).find((p) => spans.has(pathKey(p)));
    if (!next) break;
    path = next;
  }
  return { span: spans.get(pathKey(path)) ?? null, path };
}

/** Segments back to `a.b[0].c`, the form the page uses for its own fields. */
export const formatPath = (segments) =>
  segments.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
