// The JSON API of the agent console and the supervisor's view, over the admin editor's request helper
// (same errors: AuthError when the session is gone, ApiError with koe's message otherwise).

import { ApiError, AuthError, request } from "/admin/ivr/api.js";

export { ApiError, AuthError };

const callPath = (id) => `/api/calls/${encodeURIComponent(id)}`;

export const api = {
  login: (user, password) => request("POST", "/api/login", { user, password }),
  logout: () => request("POST", "/api/logout"),
  me: () => request("GET", "/api/me"),
  agentMe: () => request("GET", "/api/agent/me"),
  setPresence: (presence) => request("PUT", "/api/agent/presence", { presence }),
  agents: () => request("GET", "/api/agents"),
  context: (id) => request("GET", `${callPath(id)}/context`),
  wrapup: (id, wrapup) => request("POST", `${callPath(id)}/wrapup`, wrapup),
  transfer: (id, target) => request("POST", `${callPath(id)}/transfer`, target),
  recording: (id, paused) => request("POST", `${callPath(id)}/recording`, { paused }),
  overview: () => request("GET", "/api/supervisor/overview"),
};
