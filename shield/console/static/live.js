// Live admin events: over the socket while it is open, by the ETag-polled feed otherwise
// (socket off, refused, or dropped: polling starts at once and the socket is tried again).
// One lastSeq for both, so a drop and a resume neither miss an event nor handle one twice.
import { createFeed, POLL_MS } from "./feed.js";
import { openSocket } from "./socket.js";

const RETRY_AFTER_DROP_MS = [1000, 2000, 5000, 10000, 30000];
const RETRY_NEVER_OPENED_MS = [5000, 30000, 60000, 300000];

// onEvents(events, { catchingUp }) gets each event once, in seq order (catchingUp: the
// history read at start-up); onReset() asks for a refetch (the
// missed events are gone); onStatus(text, kind, transport); onAuthLost() when the token is
// refused. Returns stop().
export function startLive({ token, onEvents, onReset, onStatus, onAuthLost }) {
  let lastSeq = 0;
  let stopped = false;
  let socket = null; // the socket being opened or open
  let live = false; // `connected` received on it
  let everOpened = false;
  let failures = 0;
  let pollTimer = null;
  let polling = false; // a feed read in flight
  let retryTimer = null;
  let catchingUp = true; // the first read: history, not news

  const deliver = (events) => {
    const fresh = [];
    for (const event of events) {
      if (event.seq > lastSeq) {
        fresh.push(event);
        lastSeq = event.seq;
      }
    }
    if (fresh.length) onEvents(fresh, { catchingUp });
  };
  const feed = createFeed({ deliver, onReset });
  const lost = () => {
    stop();
    onAuthLost();
  };

  async function poll() {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (stopped || live || polling) return;
    polling = true;
    try {
      lastSeq = Math.max(lastSeq, await feed.read(lastSeq));
      if (!live && !stopped) {
        const time = new Date().toLocaleTimeString();
        onStatus(
          everOpened
            ? `Live: the instant connection dropped; checking every ${POLL_MS / 1000} s meanwhile (last check ${time}).`
            : `Live: checking for new claims and alerts every ${POLL_MS / 1000} s (last check ${time}).`,
          "info",
          "poll",
        );
      }
    } catch (error) {
      if (error.status === 401 || error.status === 403) return lost();
      onStatus(`Live updates paused (${error.message}); trying again every ${POLL_MS / 1000} s.`, "error", "poll");
    } finally {
      polling = false;
    }
    if (!stopped && !live) pollTimer = setTimeout(poll, POLL_MS);
  }

  function connect() {
    retryTimer = null;
    if (stopped) return;
    const current = openSocket({
      token,
      lastSeq: () => lastSeq,
      onConnected: () => {
        live = true;
        everOpened = true;
        failures = 0;
        clearTimeout(pollTimer);
        pollTimer = null;
        onStatus("Live: new claims and alerts appear the moment they arrive.", "info", "socket");
      },
      onEvent: (frame) => deliver([frame]),
      onAuthLost: lost,
      onReplayLost: onReset,
      onClosed: () => {
        if (socket !== current) return;
        socket = null;
        live = false;
        if (stopped) return;
        poll();
        const delays = everOpened ? RETRY_AFTER_DROP_MS : RETRY_NEVER_OPENED_MS;
        const delay = delays[Math.min(failures, delays.length - 1)];
        failures += 1;
        retryTimer = setTimeout(connect, delay * (0.8 + Math.random() * 0.4));
      },
    });
    socket = current;
  }

  function stop() {
    stopped = true;
    clearTimeout(pollTimer);
    clearTimeout(retryTimer);
    if (socket) socket.close();
    socket = null;
  }

  // Catch up by REST first (the alerts kept in the feed), then the socket from that seq.
  poll().then(() => {
    catchingUp = false;
    if (!stopped) connect();
  });
  return stop;
}
