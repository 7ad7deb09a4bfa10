// A flow's versions (who, when, why, which is active), the rollback confirmation, and the diff table.

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function h(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(action, text, label, onClick, className = "secondary small") {
  const b = h("button", className, text);
  b.type = "button";
  b.dataset.action = action;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/**
 * Fills the list with one entry per version, newest first. `actions`: { open(v), rollback(v), diff(v) };
 * `viewing` is the version the editor was loaded from.
 */
export function renderVersions(list, versions, viewing, actions) {
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  list.replaceChildren(
    ...sorted.map((v) => {
      const li = h("li", `version${v.active ? " active" : ""}${v.version === viewing ? " viewing" : ""}`);
      li.dataset.version = String(v.version);
      const head = h("div", "version-head");
      head.append(h("span", "version-number", `v${v.version}`));
      if (v.active) head.append(h("span", "tag active-tag", "active"));
      if (v.version === viewing) head.append(h("span", "tag", "in editor"));
      li.append(head);
      li.append(h("p", "version-comment", v.comment || "(no comment)"));
      const meta = h("p", "version-meta");
      const time = h("time", "", when.format(new Date(v.created_at_ms)));
      time.dateTime = new Date(v.created_at_ms).toISOString();
      meta.append(`${v.author ?? "?"} · `, time);
      li.append(meta);
      const buttons = h("div", "version-actions");
      const n = v.version;
      buttons.append(button("open", "Open", `Open version ${n} in the editor`, () => actions.open(n)));
      if (n > 1) buttons.append(button("diff", "Diff", `Changes from version ${n - 1} to ${n}`, () => actions.diff(n)));
      if (!v.active) {
        buttons.append(button("rollback", "Roll back", `Roll back to version ${n}`, () => actions.rollback(n), "danger small"));
      }
      li.append(buttons);
      return li;
    }),
  );
}

/** Asks for confirmation and a comment; resolves to the comment, or null when cancelled. */
export function confirmRollback(flowId, version, dirty) {
  const dialog = document.getElementById("rollback-dialog");
  const comment = document.getElementById("rollback-comment");
  document.getElementById("rollback-title").textContent = `Roll back ${flowId} to version ${version}?`;
  document.getElementById("rollback-text").textContent =
    `Version ${version}'s flow becomes a new version and new calls get it at once; calls in progress keep theirs.` +
    (dirty ? " Your unsaved changes in the editor will be replaced." : "");
  comment.value = "";
  dialog.returnValue = "";
  dialog.showModal();
  comment.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm" ? comment.value.trim() : null), { once: true });
  });
}

const show = (v) => (v === undefined || v === null ? "—" : typeof v === "string" ? v : JSON.stringify(v, null, 2));

/** Fills the diff table; `pick(node)` when a node's name is clicked. */
export function renderDiff(table, summary, result, pick) {
  const changes = Array.isArray(result?.changes) ? result.changes : [];
  summary.textContent = changes.length
    ? `${changes.length} change(s) from version ${result.from} to version ${result.to}.`
    : `No differences between version ${result.from} and version ${result.to}.`;
  table.hidden = changes.length === 0;
  table.tBodies[0].replaceChildren(
    ...changes.map((c) => {
      const tr = h("tr", `change ${c.kind}`);
      const kind = h("td");
      kind.append(h("span", `kind ${c.kind}`, c.kind));
      const node = h("td");
      if (c.node) {
        const b = h("button", "link", c.node);
        b.type = "button";
        b.addEventListener("click", () => pick(c.node));
        node.append(b);
      } else {
        node.textContent = "(flow)";
      }
      const path = h("td", "mono", c.path ?? "");
      const before = h("td");
      before.append(h("pre", "before", show(c.before)));
      const after = h("td");
      after.append(h("pre", "after", show(c.after)));
      tr.append(kind, node, path, before, after);
      return tr;
    }),
  );
}
