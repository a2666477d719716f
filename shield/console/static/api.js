// The REST client: same-origin relative URLs only, the admin token as a bearer header.
import { getToken } from "./session.js";

export const API = "/shield/v1";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorFrom(response) {
  let code = "HTTP_" + response.status;
  let message = response.statusText || "Request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      if (body.error.details) message += " " + JSON.stringify(body.error.details);
    }
  } catch (_) { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

export async function request(method, path, { body, idempotencyKey, headers } = {}) {
  const all = { Authorization: "Bearer " + getToken(), Accept: "application/json", ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  if (idempotencyKey) all["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(API + path, {
    method,
    headers: all,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 304) return { notModified: true, response };
  if (!response.ok) throw await errorFrom(response);
  return { data: await response.json(), response };
}

export const get = (path, options) => request("GET", path, options).then((r) => r.data);
export const post = (path, body, options = {}) =>
  request("POST", path, { ...options, body: body ?? {} }).then((r) => r.data);
