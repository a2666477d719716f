// The event feed polled with ETags: GET /events?after=<lastSeq> with If-None-Match; a 304
// costs nothing. Admin tokens also get admin_claim_submitted / admin_action_required.
import { request } from "./api.js";

export const POLL_MS = 2000;
const PAGE = 500;

// A reader of the feed that keeps the last ETag. `read(after)` hands every page after
// `after` to `deliver(events)` (and `onReset()` when the feed says reset) and resolves the
// feed's lastSeq (`after` again on a 304); a failed request rejects.
export function createFeed({ deliver, onReset }) {
  let etag = null;
  return {
    async read(after) {
      for (;;) {
        const headers = etag ? { "If-None-Match": etag } : {};
        const result = await request("GET", `/events?after=${after}&limit=${PAGE}`, { headers });
        if (result.notModified) return after;
        etag = result.response.headers.get("ETag");
        const body = result.data;
        if (body.reset) onReset();
        if (body.events.length) deliver(body.events);
        after = Math.max(after, body.lastSeq);
        if (!body.hasMore) return after;
      }
    },
  };
}
