"""The reference of the idle-socket row: a bare Flask-Sock app, no Shield code.

Served the same way as the addon (`gunicorn bench.echo_app:app`, gevent worker). Each
socket gets a `connected` text frame, then echoes until closed - what an idle socket costs
with Flask + Flask-Sock + simple-websocket + gevent alone. `/bench/hello` for readiness.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask_sock import Sock

app = Flask(__name__)
app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": None}
sock = Sock(app)


@app.get("/bench/hello")
def hello():
    return jsonify(hello="world")


@app.before_request
def no_compression():
    request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # as the addon does


@sock.route("/shield/ws")
def echo(ws):
    ws.send('{"event": "connected"}')
    while True:
        data = ws.receive()
        if data is None:
            break
        ws.send(data)
