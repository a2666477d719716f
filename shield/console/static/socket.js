// The plain WebSocket at /shield/ws (docs/realtime.md): the token and lastSeq go in a first
// `auth` frame (never in the URL), a `ping` frame every 30 s, a server `ping` is answered with
// `pong`, and a socket silent for longer than the server's 60 s idle limit is taken as dead.
export const PING_MS = 30000;
export const SILENT_MS = 65000;
const AUTH_CODES = new Set(["AUTH_EXPIRED", "AUTH_INVALID"]);

export function socketUrl() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/shield/ws";
}

// Opens one socket. `lastSeq()` is read when the socket opens (missed events are replayed
// first). Calls onConnected() on `connected`, onEvent(frame) for every event with a seq,
// onAuthLost(code) for a refused or expired token, onReplayLost() on REPLAY_UNAVAILABLE,
// and onClosed({ opened }) exactly once, however the socket ends.
export function openSocket({ token, lastSeq, onConnected, onEvent, onAuthLost, onReplayLost, onClosed }) {
  const ws = new WebSocket(socketUrl());
  let connected = false;
  let finished = false;
  let pinger = null;
  let watchdog = null;

  const send = (event, data) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(data === undefined ? { event } : { event, data }));
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    clearInterval(pinger);
    clearTimeout(watchdog);
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    onClosed({ opened: connected });
  };
  const alive = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(finish, SILENT_MS);
  };

  ws.onopen = () => {
    send("auth", { token, lastSeq: lastSeq() });
    alive();
    pinger = setInterval(() => send("ping"), PING_MS);
  };
  ws.onmessage = (message) => {
    if (finished) return;
    alive();
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    if (frame.event === "connected") {
      connected = true;
      onConnected(frame.data);
    } else if (frame.event === "ping") {
      send("pong");
    } else if (frame.event === "error") {
      const code = frame.data && frame.data.code;
      if (AUTH_CODES.has(code)) onAuthLost(code);
      else if (code === "REPLAY_UNAVAILABLE") onReplayLost();
    } else if (typeof frame.seq === "number") {
      onEvent(frame);
    }
  };
  ws.onclose = finish;

  return {
    close() {
      send("disconnect", { reason: "logout" });
      finish();
    },
  };
}
