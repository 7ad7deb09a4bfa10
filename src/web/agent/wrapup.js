// The wrap-up after a call: reason for contact (prefilled with the top suggestion until the agent types
// their own), disposition and notes, saved with the call.

import { $, el } from "./dom.js";
import { DISPOSITIONS, dispositionLabel } from "./format.js";
import { summaryList } from "./context.js";

export class Wrapup {
  /** `save(call, {reason, disposition, notes})` posts it; `ready()` makes the agent available again. */
  constructor({ save, ready }) {
    this.call = null;
    this.edited = false;
    const select = $("wrapup-disposition");
    select.replaceChildren(new Option("Choose…", ""), ...DISPOSITIONS.map(([value, label]) => new Option(label, value)));
    $("wrapup-reason").addEventListener("input", () => (this.edited = true));
    $("wrapup-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const error = $("wrapup-error");
      error.hidden = true;
      const button = $("wrapup-save");
      button.disabled = true;
      try {
        await save(this.call, {
          reason: $("wrapup-reason").value.trim(),
          disposition: select.value,
          notes: $("wrapup-notes").value.trim(),
        });
      } catch (e) {
        error.textContent = `Not saved: ${e.message}`;
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
    $("ready").addEventListener("click", () => ready());
  }

  /** A new call: an empty form. */
  reset(call) {
    this.call = call;
    this.edited = false;
    $("wrapup-form").reset();
    $("wrapup-error").hidden = true;
    this.refresh();
  }

  /** Follows the call: the suggested reason (until the agent typed one), the summary, saved or not. */
  refresh() {
    const call = this.call;
    if (!call) return;
    if (!this.edited) $("wrapup-reason").value = call.suggestedReason();
    const summary = call.summary ? summaryList(call.summary) : null;
    $("wrapup-summary").replaceChildren(...(summary ? [el("h3", { text: "koe's summary" }), summary] : []));
    const saved = call.wrapup;
    $("wrapup-form").hidden = Boolean(saved);
    $("wrapup-done").hidden = !saved;
    if (saved) {
      $("wrapup-saved").textContent = `Saved: ${saved.reason || "no reason"} · ${dispositionLabel(saved.disposition)}.`;
    }
  }
}
