// Transfer: to an agent or a queue, cold (hand over) or warm (talk to them first). koe carries the
// context and transcript along.

import { $ } from "./dom.js";

export class TransferDialog {
  /** `send(target)` posts `{mode, agent}` or `{mode, queue}`; `targets()` lists agents to offer. */
  constructor({ send, targets }) {
    this.dialog = $("transfer-dialog");
    $("transfer-cancel").addEventListener("click", () => this.dialog.close());
    $("transfer-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      const kind = form.elements.kind.value;
      const target = { mode: form.elements.mode.value, [kind]: $("transfer-target").value.trim() };
      const error = $("transfer-error");
      error.hidden = true;
      $("transfer-send").disabled = true;
      try {
        await send(target);
        this.dialog.close();
      } catch (e) {
        error.textContent = `Not transferred: ${e.message}`;
        error.hidden = false;
      } finally {
        $("transfer-send").disabled = false;
      }
    });
    this.targets = targets;
  }

  async open() {
    $("transfer-form").reset();
    $("transfer-error").hidden = true;
    const names = await this.targets().catch(() => []);
    $("transfer-targets").replaceChildren(...names.map(([value, label]) => new Option(label, value)));
    this.dialog.showModal();
    $("transfer-target").focus();
  }
}
