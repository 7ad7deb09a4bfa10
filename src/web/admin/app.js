// The IVR editor page: sign-in, flows and versions, the JSON and node editors with live validation, the
// graph, the simulator, publish, rollback and diff. State lives here; the modules draw.

import { ApiError, AuthError, api } from "./api.js";
import { JsonEditor } from "./editor.js";
import { renderGraph, revealNode } from "./graph.js";
import { markFields, renderInspector } from "./inspector.js";
import { countByNode, renderIssues, resolveIssue } from "./issues.js";
import { locate, parseWithPositions } from "./jsonmap.js";
import { loadPrompts, wireUpload } from "./prompts.js";
import { loadNodeTypes } from "./schema.js";
import { Simulator } from "./simulator.js";
import { confirmRollback, renderDiff, renderVersions } from "./versions.js";

const VALIDATE_DEBOUNCE_MS = 400;
const $ = (id) => document.getElementById(id);

const state = {
  flows: [],
  flowId: null,
  versions: [],
  /** The version the editor text came from, and that text (to tell unsaved changes). */
  base: { version: null, text: "" },
  /** The last flow that parsed, with where its values are in the text. */
  flow: null,
  parsed: null,
  syntaxError: null,
  issues: [],
  selected: null,
  visited: [],
  validateSeq: 0,
  timer: null,
  showAgentEdges: false,
  fit: false,
  /** Each node type's fields, from the flow schema; empty until loaded (or when it cannot be). */
  types: {},
};

const editor = new JsonEditor($("json"), $("gutter"), () => {
  updateDirty();
  schedule(() => reparse(true));
});

const simulator = new Simulator({
  flow: () => (state.syntaxError ? null : state.flow),
  onPath: (names) => {
    state.visited = names;
    drawGraph();
  },
  select: (name) => select(name),
  onAuth: (e) => handleError(e),
});

// ---- messages ------------------------------------------------------------------------------------

let noticeTimer = null;
function notice(text, kind = "ok") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (kind === "ok") noticeTimer = setTimeout(() => (box.hidden = true), 10000);
}

/** Any failure: a lost session sends the admin back to the form; the rest is said at the top. */
function handleError(e) {
  if (e instanceof AuthError) {
    showLogin("Your session has ended. Sign in again.");
  } else if (e instanceof ApiError) {
    notice(e.message, "error");
  } else {
    notice(`Unexpected error: ${e?.message ?? e}`, "error");
  }
}

const guard = (fn) => async (...args) => {
  try {
    await fn(...args);
  } catch (e) {
    handleError(e);
  }
};

// ---- sign-in -------------------------------------------------------------------------------------

function showLogin(message) {
  $("app-view").hidden = true;
  $("account").hidden = true;
  $("dirty").hidden = true;
  $("flow-title").textContent = "";
  $("login-view").hidden = false;
  const error = $("login-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  $("login-password").value = "";
  $("login-user").focus();
}

async function showApp(me) {
  if (me.role !== "admin") {
    await api.logout().catch(() => {});
    showLogin(`${me.user} is not an administrator.`);
    return;
  }
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("account").hidden = false;
  $("account-name").textContent = me.user;
  await Promise.all([loadFlows(), loadPrompts()]);
  if (state.flowId !== null) await loadVersions();
}

wireUpload((name) => {
  notice(`Uploaded ${name}. Flows that use it play the new recording from their next publish.`);
  if (state.flow && !state.syntaxError) validate();
}, handleError);

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const submit = $("login-submit");
  submit.disabled = true;
  try {
    const me = await api.login($("login-user").value.trim(), $("login-password").value);
    await showApp(me);
  } catch (e) {
    if (e instanceof AuthError || (e instanceof ApiError && e.status < 500 && e.status !== 0)) {
      showLogin("Wrong user or password.");
    } else {
      showLogin(e.message);
    }
  } finally {
    submit.disabled = false;
  }
});

// A fresh page after signing out: nothing of this session's editing stays in memory. (When a session
// merely expires, the page keeps the unsaved edits, and signing in again carries on with them.)
$("logout").addEventListener("click", async () => {
  await api.logout().catch(() => {});
  location.replace(location.pathname);
});

// ---- flows and versions --------------------------------------------------------------------------

async function loadFlows() {
  state.flows = await api.flows();
  const list = $("flows");
  list.replaceChildren(
    ...state.flows.map((f) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "flow-button";
      b.dataset.flow = f.id;
      if (f.id === state.flowId) b.setAttribute("aria-current", "true");
      const name = document.createElement("span");
      name.className = "flow-name";
      name.textContent = f.name || f.id;
      const meta = document.createElement("span");
      meta.className = "flow-meta";
      meta.textContent = `${f.id} · v${f.active_version} active · ${f.versions} version(s)`;
      b.append(name, meta);
      b.addEventListener("click", guard(() => openFlow(f.id)));
      li.append(b);
      return li;
    }),
  );
  if (state.flows.length === 0) {
    const none = document.createElement("li");
    none.className = "muted";
    none.textContent = "No flows yet.";
    list.replaceChildren(none);
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (state.flowId === null) {
    const first = state.flows.find((f) => f.id === wanted) ?? state.flows[0];
    if (first) await openFlow(first.id);
  }
}

async function openFlow(id) {
  if (isDirty() && !window.confirm(`Discard the unsaved changes to ${state.flowId}?`)) return;
  const got = await api.flow(id);
  state.flowId = id;
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  for (const b of document.querySelectorAll(".flow-button")) b.toggleAttribute("aria-current", b.dataset.flow === id);
  load(got.flow, got.active_version);
  await loadVersions();
}

async function loadVersions() {
  state.versions = await api.versions(state.flowId);
  $("versions-empty").hidden = state.versions.length > 0;
  renderVersions($("versions"), state.versions, state.base.version, {
    open: guard(openVersion),
    rollback: guard(rollback),
    diff: guard((v) => showDiff(v - 1, v)),
  });
  fillDiffSelects();
  updateTitle();
}

async function openVersion(v) {
  if (isDirty() && !window.confirm(`Discard the unsaved changes and open version ${v}?`)) return;
  const got = await api.version(state.flowId, v);
  load(got.flow, got.version);
  await loadVersions();
  notice(`Version ${v} is in the editor. Publish it to make it a new version.`);
}

/** Puts a flow in the editor as the clean state. */
function load(flow, version) {
  const text = JSON.stringify(flow, null, 2);
  state.base = { version, text };
  state.selected = null;
  state.visited = [];
  editor.setText(text);
  simulator.setLanguages(flow?.languages ?? []);
  simulator.inputs = [];
  reparse(true);
  updateDirty();
}

const isDirty = () => state.flowId !== null && editor.text !== state.base.text;

function updateDirty() {
  $("dirty").hidden = !isDirty();
  updateTitle();
}

function updateTitle() {
  const active = state.versions.find((v) => v.active)?.version;
  const parts = [state.flowId];
  if (state.base.version !== null) parts.push(`editing from version ${state.base.version}`);
  if (active !== undefined && active !== state.base.version) parts.push(`active: version ${active}`);
  $("flow-title").textContent = state.flowId ? parts.join(" · ") : "";
  document.title = `${isDirty() ? "• " : ""}${state.flowId ?? "IVR editor"} · koe`;
}

// ---- editing and validation ----------------------------------------------------------------------

function schedule(fn) {
  clearTimeout(state.timer);
  state.timer = setTimeout(fn, VALIDATE_DEBOUNCE_MS);
}

/** Parses the editor's text; `rebuildInspector` is false when the inspector itself made the edit. */
function reparse(rebuildInspector) {
  try {
    const parsed = parseWithPositions(editor.text);
    state.flow = parsed.value;
    state.parsed = parsed;
    state.syntaxError = null;
  } catch (e) {
    state.syntaxError = e;
    showIssues();
    return;
  }
  if (rebuildInspector) drawInspector();
  drawGraph();
  validate();
  simulator.refresh();
}

/** The inspector changed `state.flow` in place: rewrite the JSON from it and validate soon. */
function commit() {
  const text = JSON.stringify(state.flow, null, 2);
  editor.setText(text);
  state.parsed = parseWithPositions(text);
  updateDirty();
  drawGraph();
  markEditor();
  schedule(() => {
    validate();
    simulator.refresh();
  });
}

async function validate() {
  const seq = ++state.validateSeq;
  const flow = state.flow;
  $("issues-summary").textContent = "Checking…";
  let result;
  try {
    result = await api.validate(flow);
  } catch (e) {
    if (seq !== state.validateSeq) return;
    if (e instanceof ApiError && Array.isArray(e.body?.issues)) {
      result = { valid: false, issues: e.body.issues };
    } else {
      $("issues-summary").textContent = "Could not check the flow.";
      handleError(e);
      return;
    }
  }
  if (seq !== state.validateSeq) return;
  state.issues = Array.isArray(result?.issues) ? result.issues : [];
  showIssues();
}

function showIssues() {
  const summary = $("issues-summary");
  const list = $("issues");
  if (state.syntaxError) {
    const e = state.syntaxError;
    summary.textContent = "The JSON does not parse.";
    summary.className = "issues-summary bad";
    renderIssues(list, null, [{ node: null, path: "", message: `JSON syntax: ${e.message}` }], () => {
      editor.reveal(e.line);
      editor.select(e.offset, e.offset + 1);
    });
    editor.mark(null, new Set([e.line]));
    return;
  }
  const n = state.issues.length;
  summary.textContent = n === 0 ? "Valid: no problems." : `${n} problem${n === 1 ? "" : "s"}: the flow cannot be published yet.`;
  summary.className = `issues-summary ${n === 0 ? "ok" : "bad"}`;
  renderIssues(list, state.flow, state.issues, pickIssue);
  drawGraph();
  markEditor();
  markInspector();
}

/** Lines of a path in the JSON text, or null. */
function linesOf(path) {
  if (!state.parsed) return null;
  const { span } = locate(state.parsed.spans, path);
  if (!span) return null;
  return [state.parsed.lines.lineOf(span.start), state.parsed.lines.lineOf(Math.max(span.start, span.end - 1))];
}

function markEditor() {
  if (state.syntaxError) return;
  const bad = new Set();
  for (const issue of state.issues) {
    const range = linesOf(resolveIssue(state.flow, issue).abs);
    if (range) bad.add(range[0]);
  }
  editor.mark(state.selected !== null ? linesOf(["nodes", state.selected]) : null, bad);
}

function markInspector() {
  const pointed = state.issues
    .map((issue) => ({ ...resolveIssue(state.flow, issue), message: issue.message }))
    .filter((p) => p.node !== null && p.node === state.selected && p.rel !== null);
  markFields($("inspector"), pointed);
}

function pickIssue(issue) {
  const { node, abs, rel } = resolveIssue(state.flow, issue);
  select(node);
  const range = linesOf(abs);
  if (range) editor.reveal(range[0]);
  // Focus the field the issue is about, so that it can be fixed at once.
  if (rel !== null && rel.length > 0) {
    const target = [...$("inspector").querySelectorAll("[aria-invalid]")].find((el) => el.matches("input, textarea, select"));
    target?.focus();
  }
}

function drawGraph() {
  if (!state.flow) return;
  renderGraph($("graph"), state.flow, {
    selected: state.selected,
    bad: countByNode(state.flow, state.issues),
    visited: state.visited,
    showAgentEdges: state.showAgentEdges,
    fit: state.fit,
    language: state.flow.languages?.[0],
  }, select);
}

function drawInspector() {
  renderInspector($("inspector"), {
    flow: state.syntaxError ? null : state.flow,
    types: state.types,
    selected: state.selected,
    commit,
    select,
    rerender: drawInspector,
    showInJson,
  });
  $("inspector-heading").textContent = state.selected === null ? "Flow settings" : "Node";
  markInspector();
}

function select(name) {
  state.selected = name !== null && state.flow?.nodes?.[name] ? name : null;
  drawGraph();
  drawInspector();
  markEditor();
  $("inspector-heading").scrollIntoView({ block: "nearest" });
  if (state.selected !== null) {
    revealNode($("graph"), state.selected);
    const range = linesOf(["nodes", state.selected]);
    if (range) editor.reveal(range[0]);
  }
}

function showInJson(path) {
  activateTab($("tab-json"));
  const { span } = state.parsed ? locate(state.parsed.spans, path) : { span: null };
  if (!span) return;
  editor.reveal(state.parsed.lines.lineOf(span.start));
  editor.select(span.start, span.end);
}

// ---- publish, rollback, diff ---------------------------------------------------------------------

$("publish-form").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  const error = $("publish-error");
  error.hidden = true;
  if (state.syntaxError || !state.flow) {
    error.textContent = "The JSON does not parse; fix it first.";
    error.hidden = false;
    return;
  }
  const button = $("publish");
  button.disabled = true;
  try {
    const text = editor.text;
    const { version } = await api.publish(state.flowId, state.flow, $("publish-comment").value.trim());
    state.base = { version, text };
    $("publish-comment").value = "";
    updateDirty();
    await Promise.all([loadVersions(), loadFlows()]);
    notice(`Published version ${version} of ${state.flowId}: new calls get it now.`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) {
      state.issues = Array.isArray(e.body?.issues) ? e.body.issues : state.issues;
      showIssues();
      error.textContent = `Not published: ${e.message}. See the problems under Validation.`;
      error.hidden = false;
    } else {
      throw e;
    }
  } finally {
    button.disabled = false;
  }
}));

async function rollback(version) {
  const comment = await confirmRollback(state.flowId, version, isDirty());
  if (comment === null) return;
  const { version: created } = await api.rollback(state.flowId, version, comment);
  const got = await api.flow(state.flowId);
  load(got.flow, got.active_version);
  await Promise.all([loadVersions(), loadFlows()]);
  notice(`Rolled back: version ${created} (the flow of version ${version}) is active.`);
}

function fillDiffSelects() {
  const numbers = state.versions.map((v) => v.version).sort((a, b) => a - b);
  for (const [id, fallback] of [["diff-from", numbers.at(-2) ?? numbers[0]], ["diff-to", numbers.at(-1)]]) {
    const select = $(id);
    const current = Number(select.value);
    select.replaceChildren(...numbers.map((n) => new Option(`version ${n}`, String(n))));
    select.value = String(numbers.includes(current) ? current : fallback);
  }
}

async function showDiff(from, to) {
  $("diff-from").value = String(from);
  $("diff-to").value = String(to);
  activateTab($("tab-diff"));
  const result = await api.diff(state.flowId, from, to);
  renderDiff($("diff"), $("diff-summary"), result, (node) => select(node));
}

$("diff-form").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  await showDiff(Number($("diff-from").value), Number($("diff-to").value));
}));

// ---- tabs and graph options ----------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];
function activateTab(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (tab.id === "tab-sim" && !simulator.used) simulator.run();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => activateTab(tab));
  tab.addEventListener("keydown", (ev) => {
    const i = tabs.indexOf(tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    activateTab(next);
    next.focus();
  });
}

$("show-agent-edges").addEventListener("change", (ev) => {
  state.showAgentEdges = ev.target.checked;
  drawGraph();
});
$("graph-fit").addEventListener("click", (ev) => {
  state.fit = !state.fit;
  ev.currentTarget.setAttribute("aria-pressed", String(state.fit));
  drawGraph();
});

window.addEventListener("beforeunload", (ev) => {
  if (isDirty()) ev.preventDefault();
});

// ---- start ---------------------------------------------------------------------------------------

(async () => {
  state.types = (await loadNodeTypes()) ?? {};
  if (Object.keys(state.types).length === 0) notice("The flow schema could not be loaded: node fields are shown as JSON.", "error");
  let me;
  try {
    me = await api.me();
  } catch (e) {
    showLogin(e instanceof AuthError ? null : e.message);
    return;
  }
  await guard(showApp)(me);
})();
