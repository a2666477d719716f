"""A real HTTP server on localhost standing in for Google OAuth and FCM HTTP v1.

- `POST /token`: the OAuth 2.0 JWT-bearer grant google-auth performs with a service
  account; the assertion is verified (RS256 signature with the account's public key,
  issuer, audience, scope) before an access token is issued.
- `POST /v1/projects/<project>/messages:send`: checks the bearer token, the project and
  the message shape (token, notification, string-only data under 4 KB, android and apns
  configs), then answers per registration token: success by default, or the scripted
  errors (`fail(token, UNREGISTERED, ...)`), each with FCM's real error body.
Faults for everyone: `outage(seconds, reply)` (every send answered `reply`, e.g. a 503 or a
proxy's 404 page), `oauth_outage(seconds, reply)` / `fail_oauth(*replies)` for the token
endpoint; latency per token (`latency(token, s)`) or for every send (`delay`).
Every request is kept (`received`), so tests count sends per token and event. Each send can
be held (`delay`, or `hold()` until `release()`) without a thread: the server is one asyncio
event loop in a background thread, so a benchmark's stand-in costs little CPU.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always names Google's token endpoint as the assertion's audience, whatever
# token_uri it posts to.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
TTL = re.compile(r"^\d+(\.\d{1,9})?s$")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict | str
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"


def _error(
    status: int,
    rpc: str,
    message: str,
    error_code: str | None = None,
    violations: list[tuple[str, str]] | None = None,
    headers: dict | None = None,
) -> Reply:
    details = []
    if error_code:
        details.append({"@type": FCM_ERROR, "errorCode": error_code})
    if violations:
        details.append(
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": f, "description": d} for f, d in violations],
            }
        )
    body = {"error": {"code": status, "message": message, "status": rpc}}
    if details:
        body["error"]["details"] = details
    return Reply(status, body, headers or {})


# The errors FCM documents, with the bodies it sends.
def UNREGISTERED() -> Reply:  # noqa: N802
    return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")


def PROXY_404_HTML() -> Reply:  # noqa: N802
    """What a wrong endpoint or a proxy in the way answers: a 404 page, no FCM errorCode."""
    page = "<html><head><title>404 Not Found</title></head><body>Not Found</body></html>"
    return Reply(404, page, content_type="text/html")


def NOT_FOUND_WITHOUT_CODE() -> Reply:  # noqa: N802
    """A Google-style 404 JSON error with no FcmError detail (a wrong project or URL path)."""
    return _error(404, "NOT_FOUND", "Requested entity was not found.")


def INVALID_TOKEN() -> Reply:  # noqa: N802
    return _error(
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT",
    )


def INVALID_PAYLOAD() -> Reply:  # noqa: N802
    return _error(
        400,
        "INVALID_ARGUMENT",
        "Invalid value at 'message.data[0].value' (TYPE_STRING), 5",
        "INVALID_ARGUMENT",
        [("message.data[0].value", "Invalid value at 'message.data[0].value'")],
    )


def SENDER_ID_MISMATCH() -> Reply:  # noqa: N802
    return _error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")


def PERMISSION_DENIED() -> Reply:  # noqa: N802
    return _error(
        403,
        "PERMISSION_DENIED",
        "Firebase Cloud Messaging API has not been used in project 1 before",
    )


def THIRD_PARTY_AUTH_ERROR() -> Reply:  # noqa: N802
    return _error(
        401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"
    )


def QUOTA_EXCEEDED(retry_after: str | None = None) -> Reply:  # noqa: N802
    return _error(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric",
        "QUOTA_EXCEEDED",
        headers={"Retry-After": retry_after} if retry_after else None,
    )


def UNAVAILABLE(retry_after: str | None = None) -> Reply:  # noqa: N802
    return _error(
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
        "UNAVAILABLE",
        headers={"Retry-After": retry_after} if retry_after else None,
    )


def INTERNAL() -> Reply:  # noqa: N802
    return _error(500, "INTERNAL", "Internal error encountered.", "INTERNAL")


def ACCESS_TOKEN_EXPIRED() -> Reply:  # noqa: N802
    body = {
        "error": {
            "code": 401,
            "status": "UNAUTHENTICATED",
            "message": "Request had invalid authentication credentials.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_EXPIRED",
                }
            ],
        }
    }
    return Reply(401, body)


@dataclass
class Received:
    at: float  # time.time() when the request arrived
    token: str | None
    message: dict
    status: int  # what we answered
    shape_errors: list[str]

    @property
    def event_id(self) -> str | None:
        return (self.message.get("data") or {}).get("eventId")


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, served on the stand-in's event loop.

    Requests are answered one at a time in arrival order (the clients do not pipeline,
    but bytes that arrive early wait in the buffer). Only what the OAuth and FCM clients
    send is understood: a request line, headers and a Content-Length body.
    """

    def __init__(self, fake: FakeFCM):
        self.fake = fake
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a request is being answered
        self.close_after = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.fake._connections.add(transport)

    def connection_lost(self, exc) -> None:
        self.fake._connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, path, version = (head[0].split(" ") + ["", "", ""])[:3]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().title()] = value.strip()
        try:
            length = int(headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or "Transfer-Encoding" in headers or not version.startswith("HTTP/1."):
            self.close_after = True
            del self.buffer[:]
            self._write(Reply(400, {"error": "bad request"}))
            return
        if len(self.buffer) < end + 4 + length:
            return  # the body is still on its way
        raw = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.close_after = headers.get("Connection", "").lower() == "close" or version == "HTTP/1.0"
        self.busy = True
        if method != "POST":
            self._write(Reply(501, {"error": f"unsupported method {method}"}))
        elif path == "/token":
            self._write(self.fake._token(raw))
        else:
            self.fake._arrived(
                lambda: self._write(self.fake._answer(path, headers, raw)), _token_of(raw)
            )

    def _write(self, reply: Reply) -> None:
        body = reply.body
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in reply.headers.items()),
        ]
        if self.close_after:
            lines.append("Connection: close")
        transport = self.transport
        if transport.is_closing():  # the client went away (the kill -9 test): nothing to say
            return
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        self.busy = False
        if self.close_after:
            transport.close()
        elif self.buffer:
            self._next()


class _Once:
    """A callback that runs at most once (a held send: released, or timed out)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self) -> None:
        fn, self.fn = self.fn, None
        if fn is not None:
            fn()


class FakeFCM:
    """Start with `start()`, stop with `stop()`; thread-safe.

    It serves on an asyncio event loop in one background thread (no thread per connection):
    cheap enough that the benchmark's own figures, not the stand-in, set the limit.
    """

    def __init__(self, project_id: str = "shield-test"):
        self.project_id = project_id
        self.client_email = f"push@{project_id}.iam.gserviceaccount.com"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self._always: dict[str, Reply] = {}
        self._tokens: set[str] = set()
        self._counter = itertools.count(1)
        self.received: list[Received] = []
        self.arrivals: list[float] = []  # time.time() when each send arrived (before any hold)
        self.token_requests = 0
        self.token_errors: list[str] = []
        self.delay = 0.0  # seconds to hold every send (requests "in flight")
        self._latency: dict[str, float] = {}  # per registration token, instead of delay
        self._outage: tuple[float, object] | None = None  # (until time.time(), reply factory)
        self._oauth_outage: tuple[float, object] | None = None
        self._oauth_script: list[Reply] = []
        self.in_progress = 0  # sends being answered right now
        self.held = 0  # sends that waited (or wait) for release()
        self.backlog = 1024  # listen queue: dozens of senders may connect at once
        self._holding = False  # set by hold(): sends wait until release()
        self._waiting: list = []  # the held sends' continuations
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set = set()  # transports, touched on the loop only

    # -- set-up ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def write_service_account(self, path: Path) -> Path:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": self.project_id,
                    "private_key_id": "test-key-1",
                    "private_key": pem,
                    "client_email": self.client_email,
                    "client_id": "1234567890",
                    "token_uri": self.token_uri,
                }
            )
        )
        return path

    def fail(self, token: str, *replies: Reply) -> None:
        """Answer the next sends to `token` with these replies, in order (then succeed)."""
        with self._lock:
            self._scripts.setdefault(token, []).extend(replies)

    def always(self, token: str, reply: Reply | None) -> None:
        """Answer every send to `token` with `reply` (None: back to success)."""
        with self._lock:
            if reply is None:
                self._always.pop(token, None)
            else:
                self._always[token] = reply

    def latency(self, token: str, seconds: float | None) -> None:
        """Answer sends to `token` after `seconds` (None: back to `delay`)."""
        with self._lock:
            if seconds is None:
                self._latency.pop(token, None)
            else:
                self._latency[token] = seconds

    def outage(self, seconds: float, reply=None) -> None:
        """For `seconds` from now, answer every send with `reply()` (default UNAVAILABLE)."""
        with self._lock:
            self._outage = (time.time() + seconds, reply or UNAVAILABLE)

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    def oauth_outage(self, seconds: float, reply=None) -> None:
        """For `seconds` from now, answer every token request with `reply()` (default 503)."""
        with self._lock:
            self._oauth_outage = (time.time() + seconds, reply or _oauth_unavailable)

    def fail_oauth(self, *replies: Reply) -> None:
        """Answer the next token requests with these replies, in order."""
        with self._lock:
            self._oauth_script.extend(replies)

    def hold(self) -> None:
        """Keep every send that arrives from now on waiting (in flight) until release()."""
        with self._lock:
            self._holding = True

    def release(self) -> None:
        with self._lock:
            self._holding = False
            waiting, self._waiting = self._waiting, []
        if waiting and self._loop is not None and not self._loop.is_closed():
            for go in waiting:
                self._loop.call_soon_threadsafe(go)

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired (the next send gets ACCESS_TOKEN_EXPIRED)."""
        with self._lock:
            self._tokens.clear()

    # -- what happened -----------------------------------------------------------------------
    def sends(self, token: str | None = None, status: int | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if (token is None or r.token == token) and (status is None or r.status == status)
            ]

    def delivered(self) -> dict[tuple[str, str], int]:
        """(token, eventId) -> number of accepted sends."""
        counts: dict[tuple[str, str], int] = {}
        for r in self.sends(status=200):
            counts[(r.token, r.event_id)] = counts.get((r.token, r.event_id), 0) + 1
        return counts

    @property
    def shape_errors(self) -> list[str]:
        with self._lock:
            return [e for r in self.received for e in r.shape_errors]

    # -- serving -----------------------------------------------------------------------------
    def start(self) -> FakeFCM:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self), "127.0.0.1", 0, backlog=self.backlog
                    )
                )
                self._address = self._server.sockets[0].getsockname()[:2]
            except BaseException as exc:  # noqa: BLE001 (handed to start())
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="fake-fcm", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop listening and drop every open (keep-alive) connection."""
        self.release()
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return

        def shut() -> None:
            self._server.close()
            for transport in list(self._connections):
                transport.abort()
            self._connections.clear()
            loop.call_soon(loop.stop)  # after the aborted transports have closed their sockets

        loop.call_soon_threadsafe(shut)
        thread.join(10)
        self._loop = self._thread = None

    def _arrived(self, answer, token: str | None = None) -> None:
        """A send arrived (on the loop): answer it after any hold and the delay."""
        self.arrivals.append(time.time())
        delay = self._latency.get(token, self.delay) if token else self.delay

        def go() -> None:
            if delay:
                self._loop.call_later(delay, done)
            else:
                done()

        def done() -> None:
            with self._lock:
                self.in_progress -= 1
            answer()

        once = _Once(go)
        with self._lock:
            self.in_progress += 1
            holding = self._holding
            if holding:
                self.held += 1
                self._waiting.append(once)
        if holding:
            self._loop.call_later(60, once)  # as a held request would time out
        else:
            go()

    def _token(self, raw: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self._lock:
            self.token_requests += 1
            if self._oauth_script:
                return self._oauth_script.pop(0)
            outage = self._oauth_outage
        if outage is not None and time.time() < outage[0]:
            return outage[1]()
        try:
            if form.get("grant_type") != JWT_BEARER:
                raise ValueError(f"grant_type {form.get('grant_type')!r}")
            claims = jwt.decode(
                form.get("assertion", ""),
                self._key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=self.client_email,
            )
            if FCM_SCOPE not in str(claims.get("scope", "")).split():
                raise ValueError(f"scope {claims.get('scope')!r}")
        except (ValueError, jwt.PyJWTError) as exc:
            with self._lock:
                self.token_errors.append(str(exc))
            return Reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        access = f"ya29.fake-{next(self._counter)}"
        with self._lock:
            self._tokens.add(access)
        return Reply(200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"})

    def _answer(self, path: str, headers: dict, raw: bytes) -> Reply:
        errors: list[str] = []
        match = SEND_PATH.match(path)
        if not match or match.group(1) != self.project_id:
            errors.append(f"path {path}")
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            body = json.loads(raw)
            message = body["message"]
        except (ValueError, KeyError, TypeError):
            body, message = {}, {}
            errors.append("body is not {message: ...}")
        token = message.get("token")
        with self._lock:
            known = bearer in self._tokens
            outage = self._outage
        if outage is not None and time.time() < outage[0]:
            reply = outage[1]()
            errors = []
        elif not known:
            reply = ACCESS_TOKEN_EXPIRED()
            errors = []  # not a shape problem
        else:
            errors += _shape_errors(headers, body, message)
            reply = (
                self._scripted(token)
                if not errors
                else _error(
                    400,
                    "INVALID_ARGUMENT",
                    "; ".join(errors),
                    "INVALID_ARGUMENT",
                    [("message", e) for e in errors],
                )
            )
            if reply is None:
                n = next(self._counter)
                reply = Reply(200, {"name": f"projects/{self.project_id}/messages/{n}"})
        with self._lock:
            self.received.append(Received(time.time(), token, message, reply.status, errors))
        return reply

    def _scripted(self, token: str | None) -> Reply | None:
        with self._lock:
            queue = self._scripts.get(token)
            if queue:
                return queue.pop(0)
            return self._always.get(token)


def _oauth_unavailable() -> Reply:
    return Reply(503, {"error": "temporarily_unavailable"})


def OAUTH_INVALID_GRANT() -> Reply:  # noqa: N802
    """The token endpoint refusing the service account (a revoked or wrong key)."""
    return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})


def _token_of(raw: bytes) -> str | None:
    try:
        return json.loads(raw)["message"]["token"]
    except (ValueError, KeyError, TypeError):
        return None


def _shape_errors(headers: dict, body: dict, message: dict) -> list[str]:
    errors = []
    if not headers.get("Content-Type", "").startswith("application/json"):
        errors.append("Content-Type is not JSON")
    if body.get("validate_only") not in (False, None):
        errors.append("validate_only set")
    if not isinstance(message.get("token"), str) or not message.get("token"):
        errors.append("message.token missing")
    note = message.get("notification") or {}
    if not isinstance(note.get("title"), str) or not isinstance(note.get("body"), str):
        errors.append("notification.title/body missing")
    data = message.get("data")
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        errors.append("data values must be strings")
    elif len(json.dumps(data, separators=(",", ":")).encode()) >= 4096:
        errors.append("data payload over 4 KB")
    android = message.get("android") or {}
    if android.get("priority") not in ("HIGH", "NORMAL"):
        errors.append(f"android.priority {android.get('priority')!r}")
    if not TTL.match(str(android.get("ttl", ""))):
        errors.append(f"android.ttl {android.get('ttl')!r}")
    if not isinstance(android.get("collapse_key"), str):
        errors.append("android.collapse_key missing")
    apns_headers = (message.get("apns") or {}).get("headers") or {}
    if apns_headers.get("apns-priority") not in ("10", "5"):
        errors.append(f"apns-priority {apns_headers.get('apns-priority')!r}")
    if (
        len(str(apns_headers.get("apns-collapse-id", "")).encode()) > 64
        or "apns-collapse-id" not in apns_headers
    ):
        errors.append("apns-collapse-id missing or over 64 bytes")
    if not all(isinstance(v, str) for v in apns_headers.values()):
        errors.append("apns header values must be strings")
    return errors
