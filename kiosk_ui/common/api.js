// fetch wrapper: JSON in and out, the daemon's typed errors as ApiError {status, code, message}.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let bearer = null;

/** Device pages (kiosk, guide) authenticate with a device token; the dashboard uses its cookie. */
export function setBearer(token) {
  bearer = token || null;
}

export function authHeaders() {
  return bearer ? { Authorization: `Bearer ${bearer}` } : {};
}

export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", ...authHeaders(), ...headers },
    credentials: "same-origin",
    cache: "no-store",
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "offline", "the store box cannot be reached");
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const e = (data && data.error) || (data && data.detail && data.detail.error) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText, e.details);
  }
  return data;
}
