// The sign-in form of the agent and supervisor pages, built into their `#login-view`. The session is the
// HttpOnly cookie koe sets; the page never sees the password again after sending it.

import { AuthError, ApiError, api } from "./api.js";
import { $, el, notice } from "./dom.js";
import { aRole } from "./format.js";

/**
 * Shows the form with `message` (or none); `roles` may use the page. Resolves `onSignedIn(me)` once
 * someone with one of those roles has signed in.
 */
export function showSignIn({ message = null, roles, page, onSignedIn }) {
  const view = $("login-view");
  const error = el("p", { id: "login-error", className: "error", attrs: { role: "alert" }, hidden: !message, text: message ?? "" });
  const user = el("input", { id: "login-user", name: "user", autocomplete: "username", required: true });
  const password = el("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = el("button", { type: "submit", id: "login-submit", text: "Sign in" });
  const form = el(
    "form",
    { id: "login-form", className: "card login-card" },
    el("h2", { text: "Sign in" }),
    el("p", { className: "muted", text: page }),
    el("label", { htmlFor: "login-user", text: "User" }),
    user,
    el("label", { htmlFor: "login-password", text: "Password" }),
    password,
    error,
    submit,
  );
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
    password.value = "";
    password.focus();
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      const me = await api.login(user.value.trim(), password.value);
      if (!roles.includes(me.role)) {
        await api.logout().catch(() => {});
        fail(`${me.user} is ${aRole(me.role)}; this page is for: ${roles.join(", ")}.`);
        return;
      }
      view.hidden = true;
      await onSignedIn(me);
    } catch (e) {
      if (e instanceof AuthError || (e instanceof ApiError && e.status >= 400 && e.status < 500)) {
        fail("Wrong user or password.");
      } else {
        fail(e.message);
      }
    } finally {
      submit.disabled = false;
    }
  });
  view.replaceChildren(form);
  view.hidden = false;
  user.focus();
}

/** Ends the session and reloads the page blank, so nothing of it stays in memory. */
export async function signOut() {
  sessionStorage.clear();
  await api.logout().catch(() => {});
  location.replace(location.pathname);
}

/**
 * The signed-in life of a page (`roles` may use it). `start()` asks who is signed in and calls
 * `enter(me)`, or shows the form (with `refused(me)`, the reason, for someone of another role).
 * `guard(fn)` wraps a handler: an ended session hides the page (`leave()`) and brings the form back;
 * any other failure is shown as a notice.
 */
export function signedInPage({ roles, page, refused, enter, leave }) {
  const guard = (fn) => async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof AuthError) {
        leave();
        signIn("Your session has ended. Sign in again.");
      } else {
        notice(e?.message ?? String(e), "error");
      }
    }
  };
  const signIn = (message = null) => showSignIn({ message, roles, page, onSignedIn: guard(enter) });
  async function start() {
    let me;
    try {
      me = await api.me();
    } catch (e) {
      signIn(e instanceof AuthError ? null : e.message);
      return;
    }
    if (!roles.includes(me.role)) {
      signIn(refused(me));
      return;
    }
    await guard(enter)(me);
  }
  return { guard, start };
}
