// Recorded (WAV) prompts: the list with a player for each, and the upload form. Flows use them as
// {"wav": "<name>"}; the names also feed the node editor's suggestions.

import { ApiError, api, promptPath } from "./api.js";

/** Fills the list and the `wav-names` suggestions; the names. */
export async function loadPrompts() {
  const names = await api.prompts();
  const list = document.getElementById("prompts");
  list.replaceChildren(
    ...names.map((name) => {
      const li = document.createElement("li");
      li.dataset.prompt = name;
      const label = document.createElement("span");
      label.className = "prompt-name";
      label.textContent = name;
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = promptPath(name);
      audio.setAttribute("aria-label", `Play ${name}`);
      li.append(label, audio);
      return li;
    }),
  );
  document.getElementById("prompts-empty").hidden = names.length > 0;
  let datalist = document.getElementById("wav-names");
  if (!datalist) {
    datalist = document.createElement("datalist");
    datalist.id = "wav-names";
    document.body.append(datalist);
  }
  datalist.replaceChildren(...names.map((n) => new Option(n, n)));
  return names;
}

/** Wires the upload form; `onUploaded(name)` after a successful upload. `onError(e)` for the rest. */
export function wireUpload(onUploaded, onError) {
  const form = document.getElementById("prompt-form");
  const error = document.getElementById("prompt-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const name = document.getElementById("prompt-name").value.trim();
    const file = document.getElementById("prompt-file").files[0];
    if (!file) return;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api.uploadPrompt(name, file);
      form.reset();
      await loadPrompts();
      onUploaded(name);
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        error.textContent = e.message;
        error.hidden = false;
      } else {
        onError(e);
      }
    } finally {
      button.disabled = false;
    }
  });
}
