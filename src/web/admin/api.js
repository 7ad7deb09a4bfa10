// The JSON API, as the page uses it. The session is the HttpOnly cookie the server sets at sign-in, so
// nothing secret lives in the page; a 401 anywhere means the session is gone.

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** `body`: a value sent as JSON, or a Blob (a file) sent as it is. */
export async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body instanceof Blob) {
    init.headers["Content-Type"] = body.type || "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `koe did not answer (${e.message})`, null);
  }
  const text = await resp.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (resp.status === 401) throw new AuthError(json?.error ?? "not signed in");
  if (!resp.ok) {
    const message = json?.error ?? `${method} ${path} answered ${resp.status}`;
    throw new ApiError(resp.status, message, json);
  }
  return json;
}

const flowPath = (id) => `/api/ivr/flows/${encodeURIComponent(id)}`;

export const api = {
  login: (user, password) => request("POST", "/api/login", { user, password }),
  logout: () => request("POST", "/api/logout"),
  me: () => request("GET", "/api/me"),
  flows: () => request("GET", "/api/ivr/flows"),
  flow: (id) => request("GET", flowPath(id)),
  versions: (id) => request("GET", `${flowPath(id)}/versions`),
  version: (id, v) => request("GET", `${flowPath(id)}/versions/${v}`),
  validate: (flow) => request("POST", "/api/ivr/validate", flow),
  simulate: (flow, language, inputs) => request("POST", "/api/ivr/simulate", { flow, language, inputs }),
  publish: (id, flow, comment) => request("POST", `${flowPath(id)}/publish`, { flow, comment }),
  rollback: (id, version, comment) => request("POST", `${flowPath(id)}/rollback`, { version, comment }),
  diff: (id, from, to) => request("GET", `${flowPath(id)}/diff?from=${from}&to=${to}`),
  prompts: () => request("GET", "/api/prompts"),
  uploadPrompt: (name, file) => request("PUT", promptPath(name), file),
};

/** Where a recorded prompt's audio is (for an <audio> element). */
export const promptPath = (name) => `/api/prompts/${encodeURIComponent(name)}`;
