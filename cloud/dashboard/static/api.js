// The public API with the visitor's token: `Authorization: Bearer <token>` on every call.
// The token lives in sessionStorage (this tab only); nothing is requested without one.

const KEY = "iotgw.dashboard.token";

export class AuthError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
  }
}

export const token = () => sessionStorage.getItem(KEY);
export const setToken = (value) => sessionStorage.setItem(KEY, value);
export const clearToken = () => sessionStorage.removeItem(KEY);

/** The URL of an API path, relative to the dashboard's own location (/ui/ -> /). */
export function apiUrl(path, params) {
  const url = new URL(`..${path}`, new URL(".", location.href));
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  return url;
}

async function detail(res) {
  try {
    const body = await res.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return res.statusText || "no detail";
  }
}

/** Call the API. 401 raises AuthError (back to sign-in); 403 on a read raises AuthError too
 * (the token cannot see the dashboard), except with `optional` (a part that needs a wider
 * scope, e.g. webhooks need admin), where it answers null; 403 on an action raises ApiError,
 * shown where the action was taken; any other non-2xx raises ApiError. */
export async function api(path, { method = "GET", params, body, optional = false } = {}) {
  const t = token();
  if (!t) throw new AuthError(401, "sign in with an API token");
  const headers = { Authorization: `Bearer ${t}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(apiUrl(path, params), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 403 && optional) return null;
  if (res.status === 401 || (res.status === 403 && method === "GET")) {
    throw new AuthError(res.status, await detail(res));
  }
  if (!res.ok) throw new ApiError(res.status, await detail(res));
  return res.status === 204 ? null : res.json();
}
