// The selected node's fields as a form (or the flow's own settings when no node is selected). Edits
// change the flow in place and call `commit()`, which rewrites the JSON and re-validates; the form is
// not rebuilt while the admin types in it.

import { template } from "./model.js";
import { touches } from "./issues.js";

let ids = 0;
const uid = () => `f${++ids}`;

function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

const LABELS = {
  no_match_prompt: "No-match prompt",
  no_input_prompt: "No-input prompt",
  invalid_prompt: "Invalid-input prompt",
  on_failure: "On failure go to",
  timeout_s: "Timeout (s)",
  timeout_ms: "Timeout (ms)",
  max_s: "Longest message (s)",
  min_digits: "Min digits",
  max_digits: "Max digits",
  barge_in: "Barge-in",
  agent_node: "Agent node",
  agent_key: "Agent key",
};
const labelOf = (name) => LABELS[name] ?? name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");

/** A labelled control; `path` (relative to the node) lets issues point at it. */
function field(label, control, path, hint) {
  control.id ||= uid();
  if (path !== null) control.dataset.path = path;
  return h("div", { class: "field" }, h("label", { for: control.id, text: label }), control, hint ? h("p", { class: "hint", text: hint }) : null);
}

function setOrDelete(obj, key, value, keep) {
  if (value === "" && !keep) delete obj[key];
  else obj[key] = value;
}

/**
 * Builds the inspector for `state.selected` into `root`. `ctx`: { flow, types (schema.js's field table),
 * selected, commit(), select(name), rerender(), showInJson(path) }.
 */
export function renderInspector(root, ctx) {
  const { flow } = ctx;
  ensureDatalist(flow);
  if (!flow || typeof flow !== "object") {
    root.replaceChildren(h("p", { class: "muted", text: "Fix the JSON to edit the flow here." }));
    return;
  }
  const node = ctx.selected !== null ? flow.nodes?.[ctx.selected] : undefined;
  root.replaceChildren(node && typeof node === "object" ? nodeForm(ctx, ctx.selected, node) : flowForm(ctx));
}

/** Marks the controls that issues point at. `pointed`: [{ rel (path inside the node), message }]. */
export function markFields(root, pointed) {
  const fields = [...root.querySelectorAll("[data-path]")];
  const messages = new Map(fields.map((el) => [el, []]));
  for (const p of pointed) {
    // The most specific field the issue is about (the option's "next", not the whole option).
    const hits = fields.filter((el) => touches(p.rel, el.dataset.path));
    const depth = Math.max(...hits.map((el) => el.dataset.path.length));
    for (const el of hits) if (el.dataset.path.length === depth) messages.get(el).push(p.message);
  }
  for (const [el, list] of messages) {
    el.toggleAttribute("aria-invalid", list.length > 0);
    el.title = list.join("\n");
  }
}

function ensureDatalist(flow) {
  let list = document.getElementById("node-names");
  if (!list) {
    list = h("datalist", { id: "node-names" });
    document.body.append(list);
  }
  list.replaceChildren(...Object.keys(flow?.nodes ?? {}).map((n) => h("option", { value: n })));
}

function flowForm(ctx) {
  const { flow } = ctx;
  const box = h("div", { class: "flow-form" });
  box.append(h("p", { class: "muted", text: "No node selected: the flow's settings. Choose a node in the graph to edit it." }));
  const text = (name, { list, keep } = {}) => {
    const input = h("input", { value: flow[name] ?? "", list: list ? "node-names" : null, autocomplete: "off" });
    input.addEventListener("input", () => {
      setOrDelete(flow, name, input.value, keep);
      ctx.commit();
    });
    return field(labelOf(name), input, null);
  };
  box.append(text("name", { keep: true }), text("start", { list: true, keep: true }), text("agent_node", { list: true, keep: true }));
  const key = h("input", { value: flow.agent_key ?? "", maxLength: 1, placeholder: "0", class: "short", autocomplete: "off" });
  key.addEventListener("input", () => {
    setOrDelete(flow, "agent_key", key.value, false);
    ctx.commit();
  });
  box.append(field("Agent key", key, null, "Reaches the agent node from any menu."));
  box.append(listField(flow, "languages", "Languages (comma-separated)", ctx, null));

  // New node.
  const name = h("input", { autocomplete: "off", placeholder: "e.g. billing_menu" });
  const type = h("select", {}, ...Object.keys(ctx.types).map((t) => h("option", { value: t, text: t })));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "new-node" },
    h("h3", { text: "New node" }),
    field("Name", name, null),
    field("Type", type, null),
    error,
    h("button", { type: "submit", text: "Add node" }),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    error.hidden = true;
    if (!n || n in (flow.nodes ?? {})) {
      error.textContent = n ? `A node called ${n} exists already.` : "Give the node a name.";
      error.hidden = false;
      return;
    }
    flow.nodes ??= {};
    flow.nodes[n] = template(type.value, flow);
    ctx.commit();
    ctx.select(n);
  });
  box.append(form);
  return box;
}

function nodeForm(ctx, name, node) {
  const { flow } = ctx;
  const box = h("div", { class: "node-form", "data-node-form": name });
  const badges = [
    h("span", { class: `type t-${node.type}`, text: node.type ?? "no type" }),
    name === flow.start ? h("span", { class: "tag", text: "start" }) : null,
    name === flow.agent_node ? h("span", { class: "tag", text: "agent node" }) : null,
  ];
  const del = h("button", {
    type: "button",
    class: "danger small",
    text: "Delete node",
    onclick: () => {
      if (!window.confirm(`Delete the node ${name}? References to it will become errors.`)) return;
      delete flow.nodes[name];
      ctx.commit();
      ctx.select(null);
    },
  });
  const json = h("button", { type: "button", class: "secondary small", text: "Show in JSON", onclick: () => ctx.showInJson(["nodes", name]) });
  box.append(h("div", { class: "node-head" }, h("h3", { class: "node-name", text: name }), ...badges), h("div", { class: "node-actions" }, json, del));

  const fields = ctx.types[node.type];
  if (!fields) {
    const why = Object.keys(ctx.types).length ? `Unknown node type ${JSON.stringify(node.type)}` : "The flow schema could not be loaded";
    box.append(h("p", { class: "error", text: `${why}: its fields are shown as JSON.` }));
  }
  const known = new Set(["type", ...(fields ?? []).map((s) => s.name)]);
  for (const spec of fields ?? []) box.append(control(ctx, node, spec));
  for (const extra of Object.keys(node).filter((k) => !known.has(k))) {
    box.append(jsonField(node, extra, fields ? `${extra} (not a field of ${node.type})` : extra, ctx, extra));
  }
  return box;
}

function control(ctx, node, spec) {
  const { name, kind } = spec;
  switch (kind) {
    case "prompt":
      return promptField(ctx, node, name, spec.optional);
    case "ref":
      return refField(ctx, node, name, labelOf(name), name, spec);
    case "options":
      return optionsField(ctx, node);
    case "cases":
      return casesField(ctx, node);
    case "list":
      return listField(node, name, `${labelOf(name)} (comma-separated)`, ctx, name);
    case "json":
      return jsonField(node, name, labelOf(name), ctx, name, spec.hint);
    case "bool": {
      const box = h("input", { type: "checkbox", checked: node[name] ?? spec.def });
      box.addEventListener("change", () => {
        node[name] = box.checked;
        ctx.commit();
      });
      box.id = uid();
      box.dataset.path = name;
      return h("div", { class: "field check", title: spec.hint ?? null }, box, h("label", { for: box.id, text: labelOf(name) }));
    }
    case "num": {
      const input = h("input", { type: "number", min: 0, value: node[name] ?? "", placeholder: spec.def ?? "", class: "short" });
      input.addEventListener("input", () => {
        if (input.value === "" && spec.optional) delete node[name];
        else node[name] = Number(input.value);
        ctx.commit();
      });
      return field(labelOf(name), input, name, spec.hint);
    }
    default: {
      const input = h("input", {
        value: node[name] ?? "",
        placeholder: spec.placeholder ?? spec.def ?? "",
        maxLength: kind === "char" ? 1 : null,
        class: kind === "char" ? "short" : null,
        autocomplete: "off",
      });
      input.addEventListener("input", () => {
        setOrDelete(node, name, input.value, !spec.optional);
        ctx.commit();
      });
      return field(labelOf(name), input, name, spec.hint);
    }
  }
}

function promptField(ctx, owner, slot, optional) {
  const { flow } = ctx;
  const set = h("fieldset", { class: "prompt", "data-path": slot });
  set.append(h("legend", { text: labelOf(slot) }));
  const prompt = owner[slot];
  if (prompt === undefined || prompt === null) {
    set.append(
      h("button", {
        type: "button",
        class: "secondary small",
        text: `Add ${labelOf(slot).toLowerCase()}`,
        onclick: () => {
          owner[slot] = Object.fromEntries((flow.languages ?? ["en"]).map((l) => [l, ""]));
          ctx.commit();
          ctx.rerender();
        },
      }),
    );
    return set;
  }
  if (typeof prompt !== "object") {
    set.append(h("p", { class: "error", text: "Not a prompt (expected text per language): fix it in the JSON." }));
    return set;
  }
  const languages = [...new Set([...(flow.languages ?? []), ...Object.keys(prompt)])];
  for (const lang of languages) {
    const src = prompt[lang];
    // Each language is a text for TTS or a recording; a button switches between the two.
    const swap = (to, label) =>
      h("button", {
        type: "button",
        class: "secondary small",
        text: label,
        "aria-label": `${label} (${labelOf(slot).toLowerCase()}, ${lang})`,
        onclick: () => {
          prompt[lang] = to;
          ctx.commit();
          ctx.rerender();
        },
      });
    if (src && typeof src === "object") {
      const input = h("input", { value: src.wav ?? "", list: "wav-names", autocomplete: "off", "data-prompt": slot, "data-lang": lang });
      input.addEventListener("input", () => {
        prompt[lang] = { wav: input.value };
        ctx.commit();
      });
      set.append(field(`${lang} — recorded prompt`, input, `${slot}.${lang}`), swap("", "Use text"));
    } else {
      const area = h("textarea", { rows: 2, "data-prompt": slot, "data-lang": lang, lang });
      area.value = typeof src === "string" ? src : "";
      area.placeholder = src === undefined ? `No ${lang} text yet` : "";
      area.addEventListener("input", () => {
        prompt[lang] = area.value;
        ctx.commit();
      });
      set.append(field(lang, area, `${slot}.${lang}`), swap({ wav: "" }, "Use a recording"));
    }
  }
  if (optional) {
    set.append(
      h("button", {
        type: "button",
        class: "secondary small",
        text: "Remove",
        "aria-label": `Remove ${labelOf(slot).toLowerCase()}`,
        onclick: () => {
          delete owner[slot];
          ctx.commit();
          ctx.rerender();
        },
      }),
    );
  }
  return set;
}

function refField(ctx, owner, key, label, path, spec = {}) {
  const input = h("input", {
    value: owner[key] ?? "",
    list: "node-names",
    autocomplete: "off",
    placeholder: spec.placeholder ?? "node name",
    "data-ref": path,
  });
  const go = h("button", {
    type: "button",
    class: "secondary small go",
    text: "Go",
    "aria-label": `Go to the ${label.toLowerCase()} node`,
    onclick: () => {
      const target = input.value || (spec.placeholder ? ctx.flow.agent_node : "");
      if (target in (ctx.flow.nodes ?? {})) ctx.select(target);
    },
  });
  input.addEventListener("input", () => {
    setOrDelete(owner, key, input.value, !spec.optional);
    ctx.commit();
  });
  input.id = uid();
  input.dataset.path = path;
  return h("div", { class: "field" }, h("label", { for: input.id, text: label }), h("div", { class: "ref" }, input, go));
}

function listField(owner, key, label, ctx, path) {
  const input = h("input", { value: (owner[key] ?? []).join(", "), autocomplete: "off" });
  input.addEventListener("input", () => {
    const items = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (items.length === 0 && key !== "languages") delete owner[key];
    else owner[key] = items;
    ctx.commit();
  });
  return field(label, input, path);
}

function jsonField(owner, key, label, ctx, path, hint) {
  const area = h("textarea", { rows: 3, class: "mono", spellcheck: "false" });
  area.value = owner[key] === undefined ? "" : JSON.stringify(owner[key], null, 2);
  area.addEventListener("input", () => {
    if (area.value.trim() === "") {
      delete owner[key];
      area.removeAttribute("aria-invalid");
      ctx.commit();
      return;
    }
    try {
      owner[key] = JSON.parse(area.value);
      area.removeAttribute("aria-invalid");
      ctx.commit();
    } catch {
      area.setAttribute("aria-invalid", "true");
    }
  });
  return field(label, area, path, hint ? `${hint} (JSON)` : "JSON");
}

function optionsField(ctx, node) {
  const { flow } = ctx;
  const set = h("fieldset", { class: "options", "data-path": "options" }, h("legend", { text: "Options" }));
  node.options ??= [];
  node.options.forEach((o, i) => {
    const base = `options[${i}]`;
    const row = h("fieldset", { class: "option", "data-path": base }, h("legend", { text: `Option ${i + 1}` }));
    const key = h("input", { value: o.key ?? "", maxLength: 1, class: "short", autocomplete: "off", placeholder: "—" });
    key.addEventListener("input", () => {
      setOrDelete(o, "key", key.value, false);
      ctx.commit();
    });
    row.append(field("Key", key, `${base}.key`));
    row.append(refField(ctx, o, "next", "Next", `${base}.next`));
    const intent = h("input", { value: o.intent ?? "", autocomplete: "off" });
    intent.addEventListener("input", () => {
      setOrDelete(o, "intent", intent.value, false);
      ctx.commit();
    });
    row.append(field("Intent", intent, `${base}.intent`));
    for (const lang of flow.languages ?? []) {
      const phrases = h("input", { value: (o.phrases?.[lang] ?? []).join(", "), autocomplete: "off", lang });
      phrases.addEventListener("input", () => {
        const items = phrases.value.split(",").map((s) => s.trim()).filter(Boolean);
        o.phrases ??= {};
        if (items.length) o.phrases[lang] = items;
        else delete o.phrases[lang];
        if (Object.keys(o.phrases).length === 0) delete o.phrases;
        ctx.commit();
      });
      row.append(field(`Phrases (${lang}, comma-separated)`, phrases, `${base}.phrases.${lang}`));
    }
    row.append(
      h("button", {
        type: "button",
        class: "secondary small",
        text: "Remove option",
        "aria-label": `Remove option ${i + 1}`,
        onclick: () => {
          node.options.splice(i, 1);
          ctx.commit();
          ctx.rerender();
        },
      }),
    );
    set.append(row);
  });
  set.append(
    h("button", {
      type: "button",
      class: "secondary small",
      text: "Add option",
      onclick: () => {
        node.options.push({ next: flow.agent_node ?? "" });
        ctx.commit();
        ctx.rerender();
      },
    }),
  );
  return set;
}

function casesField(ctx, node) {
  const set = h("fieldset", { class: "cases", "data-path": "cases" }, h("legend", { text: "Cases (first that holds wins)" }));
  node.cases ??= [];
  node.cases.forEach((c, i) => {
    const base = `cases[${i}]`;
    const row = h("fieldset", { class: "case", "data-path": base }, h("legend", { text: `Case ${i + 1}` }));
    row.append(jsonField(c, "when", "When", ctx, `${base}.when`));
    row.append(refField(ctx, c, "next", "Then go to", `${base}.next`));
    row.append(
      h("button", {
        type: "button",
        class: "secondary small",
        text: "Remove case",
        onclick: () => {
          node.cases.splice(i, 1);
          ctx.commit();
          ctx.rerender();
        },
      }),
    );
    set.append(row);
  });
  set.append(
    h("button", {
      type: "button",
      class: "secondary small",
      text: "Add case",
      onclick: () => {
        node.cases.push({ when: { exists: "intent" }, next: node.default ?? "" });
        ctx.commit();
        ctx.rerender();
      },
    }),
  );
  return set;
}
