// Walks the flow in the editor (published or not) with typed keys, phrases and timeouts through
// POST /api/ivr/simulate, and shows each step: the node, what the caller would hear, the variables.

import { ApiError, api } from "./api.js";

/** What the admin typed, as one simulator input: keys, a timeout, or a phrase. */
export function classify(text) {
  const t = text.trim();
  if (/^timeout$/i.test(t)) return { timeout: true };
  if (/^[0-9*#A-Da-d]+$/.test(t)) return { keys: t.toUpperCase() };
  return { speech: t };
}

const describe = (input) => (input.timeout ? "timeout" : input.keys !== undefined ? `keys ${input.keys}` : `“${input.speech}”`);

export class Simulator {
  /** `hooks`: { flow() → the editor's flow or null, onPath(names), select(name), onAuth(err) }. */
  constructor(hooks) {
    this.hooks = hooks;
    this.inputs = [];
    this.used = false;
    this.seq = 0;
    this.$ = (id) => document.getElementById(id);
    this.$("sim-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = this.$("sim-input").value;
      if (!text.trim()) return;
      this.inputs.push(classify(text));
      this.$("sim-input").value = "";
      this.run();
    });
    this.$("sim-timeout").addEventListener("click", () => {
      this.inputs.push({ timeout: true });
      this.run();
    });
    this.$("sim-undo").addEventListener("click", () => {
      this.inputs.pop();
      this.run();
    });
    this.$("sim-reset").addEventListener("click", () => this.reset());
    this.$("sim-language").addEventListener("change", () => this.run());
  }

  setLanguages(languages) {
    const select = this.$("sim-language");
    const current = select.value;
    select.replaceChildren(...languages.map((l) => new Option(l, l)));
    if (languages.includes(current)) select.value = current;
  }

  reset() {
    this.inputs = [];
    this.run();
  }

  /** Runs again after the flow changed, if the simulator has been used. */
  refresh() {
    if (this.used) this.run();
  }

  async run() {
    this.used = true;
    const seq = ++this.seq;
    const error = this.$("sim-error");
    this.$("sim-inputs").textContent = this.inputs.length
      ? `Caller so far: ${this.inputs.map(describe).join(" → ")}`
      : "The call has just started. Type what the caller presses or says.";
    const flow = this.hooks.flow();
    if (!flow) {
      this.#fail("Fix the JSON first: the simulator runs the flow in the editor.");
      return;
    }
    let result;
    try {
      result = await api.simulate(flow, this.$("sim-language").value || flow.languages?.[0], this.inputs);
    } catch (e) {
      if (seq !== this.seq) return;
      if (e instanceof ApiError && e.status === 404) {
        this.#fail("The simulator is not available on this koe (POST /api/ivr/simulate answered 404).");
      } else if (e instanceof ApiError) {
        const n = e.body?.issues?.length;
        this.#fail(n ? `The flow has ${n} problem(s); fix them to simulate it (see Validation).` : `Simulation failed: ${e.message}`);
      } else {
        this.hooks.onAuth(e);
      }
      return;
    }
    if (seq !== this.seq) return;
    error.hidden = true;
    this.#show(result);
  }

  #fail(message) {
    const error = this.$("sim-error");
    error.textContent = message;
    error.hidden = false;
    this.$("sim-steps").replaceChildren();
    this.$("sim-ended").hidden = true;
    this.hooks.onPath([]);
  }

  #show(result) {
    const steps = Array.isArray(result?.steps) ? result.steps : [];
    this.$("sim-steps").replaceChildren(...steps.map((s) => this.#step(s)));
    const ended = this.$("sim-ended");
    ended.hidden = false;
    if (result?.ended) {
      const { kind, node, target } = result.ended;
      ended.textContent = `The IVR ends at ${node}: ${kind}${target ? ` (${target})` : ""}.`;
      ended.className = "sim-ended done";
    } else {
      const waiting = result?.waiting_in ?? steps.at(-1)?.node;
      ended.textContent = waiting ? `Waiting for the caller in ${waiting}.` : "Nothing happened.";
      ended.className = "sim-ended";
    }
    this.hooks.onPath(steps.map((s) => s.node));
  }

  #step(step) {
    const li = document.createElement("li");
    li.className = "sim-step";
    const head = document.createElement("div");
    head.className = "sim-head";
    const node = document.createElement("button");
    node.type = "button";
    node.className = "link";
    node.textContent = step.node;
    node.addEventListener("click", () => this.hooks.select(step.node));
    const type = document.createElement("span");
    type.className = `type t-${step.type}`;
    type.textContent = step.type;
    head.append(node, type);
    li.append(head);
    for (const text of step.prompts ?? []) {
      const p = document.createElement("p");
      p.className = "said";
      p.textContent = text;
      li.append(p);
    }
    const vars = Object.entries(step.vars ?? {});
    if (vars.length) {
      const dl = document.createElement("p");
      dl.className = "vars";
      dl.textContent = vars.map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · ");
      li.append(dl);
    }
    for (const text of step.notes ?? []) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = text;
      li.append(note);
    }
    return li;
  }
}
