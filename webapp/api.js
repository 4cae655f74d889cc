// The HTTP API client: tokens, read-your-writes positions, errors in plain words.
// Uses only the paths of API.md (and its documented extensions).

const TOKEN_KEY = "photoshare.token";
const USER_KEY = "photoshare.user_id";
const TIMEOUT_MS = 20000;
const UPLOAD_TIMEOUT_MS = 120000;
// A data export streams every photo you posted: minutes for a large account.
const DOWNLOAD_TIMEOUT_MS = 30 * 60000;

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details; // [{field, message}] of a 422 validation_error
  }
}

const FRIENDLY = {
  0: "Can't reach the server. Check your connection and try again.",
  401: "Please log in again.",
  403: "You are not allowed to do that.",
  404: "That could not be found. It may have been deleted.",
  409: "That is already taken.",
  413: "That file is too large.",
  415: "That file type is not supported. Please choose a JPEG, PNG or WebP image.",
  429: "Too many attempts. Please wait a little and try again.",
};

function plainMessage(status, body) {
  const message = body && body.error && typeof body.error.message === "string"
    ? body.error.message.trim() : "";
  if (message) {
    return message.charAt(0).toUpperCase() + message.slice(1) + (/[.!?]$/.test(message) ? "" : ".");
  }
  if (FRIENDLY[status]) return FRIENDLY[status];
  if (status >= 500) return "Something went wrong on our side. Please try again in a moment.";
  return "The request failed. Please try again.";
}

export const session = {
  token: localStorage.getItem(TOKEN_KEY),
  userId: localStorage.getItem(USER_KEY),
  // The highest X-Event-Position of this tab's writes: sent as X-Min-Position on reads,
  // so what you just did always shows.
  position: 0,
  onExpired: () => {},
  save(token, userId) {
    this.token = token;
    this.userId = userId;
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, userId);
  },
  clear() {
    this.token = null;
    this.userId = null;
    this.position = 0;
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  },
  get loggedIn() {
    return Boolean(this.token);
  },
};

// Another tab logged in or out: follow it.
window.addEventListener("storage", (event) => {
  if (event.key === TOKEN_KEY) location.reload();
});

/**
 * request(method, path, {json, form, minPosition, timeout, signal})
 * Resolves to {data, status, position}; rejects with ApiError (status 0 = network).
 */
export async function request(method, path, options = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = options.form;
  }
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const min = Math.max(session.position, options.minPosition || 0);
  if (method === "GET" && min > 0) headers["X-Min-Position"] = String(min);

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(),
    options.timeout || (body instanceof FormData ? UPLOAD_TIMEOUT_MS : TIMEOUT_MS));
  if (options.signal) options.signal.addEventListener("abort", () => controller.abort());
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal: controller.signal });
  } catch (error) {
    if (options.signal && options.signal.aborted) throw new ApiError(0, "aborted", "Cancelled.");
    throw new ApiError(0, "network", controller.signal.aborted
      ? "The server took too long to answer. Please try again."
      : FRIENDLY[0]);
  } finally {
    clearTimeout(timer);
  }
  const written = Number(response.headers.get("X-Event-Position") || 0);
  if (written > session.position) session.position = written;
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (response.status !== 204 && type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && session.token && !options.noExpire) {
      session.onExpired();
      throw new ApiError(401, "session_expired", "Your session has ended. Please log in again.");
    }
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "error", plainMessage(response.status, data),
      Array.isArray(error.details) ? error.details : []);
  }
  return { data, status: response.status, position: written };
}

/**
 * download(path): GET a file the API streams (the data export) with this tab's token and
 * read-your-writes position. Resolves to {blob, filename}; rejects with ApiError like request.
 */
export async function download(path) {
  const headers = { Accept: "application/zip, application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (session.position > 0) headers["X-Min-Position"] = String(session.position);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DOWNLOAD_TIMEOUT_MS);
  try {
    let response;
    try {
      response = await fetch(path, { headers, signal: controller.signal });
    } catch {
      throw new ApiError(0, "network", FRIENDLY[0]);
    }
    if (!response.ok) {
      let data = null;
      try {
        data = await response.json();
      } catch {
        data = null;
      }
      if (response.status === 401 && session.token) {
        session.onExpired();
        throw new ApiError(401, "session_expired", "Your session has ended. Please log in again.");
      }
      throw new ApiError(response.status, (data && data.error && data.error.code) || "error",
        plainMessage(response.status, data));
    }
    let blob;
    try {
      blob = await response.blob();
    } catch {
      throw new ApiError(0, "network", "The download broke off. Please try again.");
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const named = /filename="([^"]+)"/.exec(disposition);
    return { blob, filename: named ? named[1] : "photoshare-data.zip" };
  } finally {
    clearTimeout(timer);
  }
}

export const api = {
  get: (path, options) => request("GET", path, options).then((r) => r.data),
  post: (path, json, options = {}) => request("POST", path, { ...options, json }),
  patch: (path, json) => request("PATCH", path, { json }),
  put: (path, options) => request("PUT", path, options),
  del: (path, options) => request("DELETE", path, options),
  upload: (method, path, form) => request(method, path, { form }),
};

export const enc = encodeURIComponent;

// Block and mute (API.md "People's control"): each PUT / DELETE is idempotent.
export const controls = {
  path: (kind, userId) => `/v1/users/me/${kind}/${enc(userId)}`,
  block: (userId) => api.put(controls.path("blocks", userId)),
  unblock: (userId) => api.del(controls.path("blocks", userId)),
  mute: (userId) => api.put(controls.path("mutes", userId)),
  unmute: (userId) => api.del(controls.path("mutes", userId)),
};
