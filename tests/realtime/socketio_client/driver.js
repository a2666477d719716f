// A real socket.io-client, driven by the tests over stdin / stdout, one JSON object a line.
//
// Commands (stdin):
//   {"op": "connect", "url": ..., "options": {...}}    io(url, options)
//   {"op": "emit", "event": ..., "data": ..., "tag": "t1"}   socket.emit(event, data)
//   {"op": "emit", ..., "callback": true, "tag": "t1"}      ... with an ack callback
//   {"op": "callback", "ackId": 3, "args": [{...}]}          call an event's ack callback
//   {"op": "disconnect"}                                     socket.disconnect()
// Reports (stdout):
//   {"kind": "ready"}                                 first, once the client is loaded
//   {"kind": "connect"} / {"kind": "connect_error", "message", "data"}
//   {"kind": "event", "name", "payload", "ackId"}   ackId when the server asked for an ack
//   {"kind": "reply", "tag", "args"}                 our emit's callback was called
//   {"kind": "disconnect", "reason", "description"}
"use strict";
const readline = require("readline");
const { io } = require("socket.io-client");

let socket = null;
const callbacks = new Map();
let nextAck = 1;

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function connect(url, options) {
  socket = io(url, options);
  socket.on("connect", () => report({ kind: "connect" }));
  socket.on("connect_error", (err) =>
    report({ kind: "connect_error", message: err.message, data: err.data ?? null })
  );
  socket.on("disconnect", (reason, details) =>
    report({
      kind: "disconnect",
      reason,
      description: details && details.description !== undefined ? String(details.description) : null,
    })
  );
  socket.onAny((name, ...args) => {
    let ackId = null;
    if (args.length && typeof args[args.length - 1] === "function") {
      ackId = nextAck++;
      callbacks.set(ackId, args.pop());
    }
    report({ kind: "event", name, payload: args[0] ?? null, ackId });
  });
}

const commands = {
  connect: (c) => connect(c.url, c.options || {}),
  emit: (c) => {
    const args = c.data === undefined ? [] : [c.data];
    if (c.callback) args.push((...reply) => report({ kind: "reply", tag: c.tag, args: reply }));
    socket.emit(c.event, ...args);
  },
  callback: (c) => {
    const fn = callbacks.get(c.ackId);
    callbacks.delete(c.ackId);
    fn(...(c.args || []));
  },
  disconnect: () => socket.disconnect(),
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  commands[command.op](command);
}).on("close", () => process.exit(0));
report({ kind: "ready" });
