// One click, one action: a fresh Idempotency-Key per click (reused only to retry that same
// click after a network failure), the button disabled while the request is in flight.
import { ApiError, post } from "./api.js";

const RETRIES_AFTER_NETWORK_ERROR = 1;

export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 409) return "Not done: the claim is not in a state that allows this. " + error.message;
    if (error.status === 422 || error.status === 400) return "Not done: the request was refused. " + error.message;
    if (error.status === 401) return "Your token is no longer valid: sign in again.";
    if (error.status === 403) return "This token is not an admin token.";
    return `Not done (${error.status}): ${error.message}`;
  }
  return "Not done: the server could not be reached. " + (error.message || "");
}

export async function runAction(button, path, body, { onDone, onError }) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const key = crypto.randomUUID();
  try {
    let attempt = 0;
    for (;;) {
      try {
        const result = await post(path, body, { idempotencyKey: key });
        await onDone(result);
        return;
      } catch (error) {
        if (!(error instanceof ApiError) && attempt < RETRIES_AFTER_NETWORK_ERROR) {
          attempt += 1;
          continue; // same key: the server answers the first attempt's result, never acts twice
        }
        await onError(error);
        return;
      }
    }
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
