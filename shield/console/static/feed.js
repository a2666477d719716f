// The event feed polled with ETags: GET /events?after=<lastSeq> with If-None-Match; a 304
// costs nothing. Admin tokens also get admin_claim_submitted / admin_action_required.
import { request } from "./api.js";

export const POLL_MS = 2000;
const PAGE = 500;

export function startFeed(onEvents, onStatus) {
  let after = 0;
  let etag = null;
  let stopped = false;
  let timer = null;
  let first = true;

  async function tick() {
    if (stopped) return;
    try {
      for (;;) {
        const headers = etag ? { "If-None-Match": etag } : {};
        const result = await request("GET", `/events?after=${after}&limit=${PAGE}`, { headers });
        if (result.notModified) break;
        etag = result.response.headers.get("ETag");
        const body = result.data;
        if (body.events.length) onEvents(body.events, { catchingUp: first });
        if (body.reset) onEvents([], { reset: true });
        after = body.lastSeq;
        if (!body.hasMore) break;
      }
      first = false;
      onStatus(`Live: checked ${new Date().toLocaleTimeString()}`, "info");
    } catch (error) {
      onStatus("Live updates paused: " + error.message, "error");
      if (error.status === 401 || error.status === 403) return; // signed out; no retry loop
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }

  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
