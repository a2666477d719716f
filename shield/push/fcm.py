"""Sending through pyfcm 2.1.1 (FCM HTTP v1), with pyfcm's retry traps disarmed.

pyfcm builds the message (`parse_payload`), loads the service account (its `token_uri` is
honoured by google-auth, so a local OAuth stand-in works), keeps one HTTP session per thread
with the bearer token, and knows the endpoint. What we do not take from it
(docs: /work/shared/design/library-notes.md):
- its transport retries: every session gets `HTTPAdapter(max_retries=0)`;
- its unbounded sleep-and-resend on any `Retry-After` (even after a 200): we post the
  payload on pyfcm's session ourselves instead of calling `notify()`, and hand the
  Retry-After to the dispatcher, which owns the backoff;
- its status-only error mapping: `results.classify` reads FCM's `errorCode`.
- its token handling (a refresh on every call, from every thread): one access token for
  the process (tokens.py), refreshed by one thread at a time, without google-auth's own
  retries; a send with a valid token never waits for a refresh.
A 401 ACCESS_TOKEN_EXPIRED gets a token newer than the refused one and resends once.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import google.auth.exceptions
import google.auth.transport.requests
import requests
from pyfcm import FCMNotification
from pyfcm.errors import InvalidDataError
from requests.adapters import HTTPAdapter

from .messages import PushMessage
from .results import OAUTH_REFUSED, PAYLOAD_REJECTED, RETRYABLE, SendResult, classify
from .tokens import AccessTokens

log = logging.getLogger(__name__)

GOOGLE_ENDPOINT_BASE = FCMNotification.FCM_END_POINT_BASE  # https://fcm.googleapis.com/v1/projects


def endpoint_base(endpoint: str | None) -> str:
    """SHIELD_FCM_ENDPOINT as pyfcm's base: `https://host` or `https://host/v1/projects`."""
    if not endpoint:
        return GOOGLE_ENDPOINT_BASE
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/projects") else endpoint + "/v1/projects"


class ShieldFCM(FCMNotification):
    """pyfcm's client with one shared, lock-guarded access token and tracked sessions."""

    def __init__(self, service_account_file: str, *, base: str, pool_size: int):
        super().__init__(
            service_account_file=service_account_file,
            adapter=HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=pool_size),
        )
        self.FCM_END_POINT_BASE = base
        self._token_lock = threading.Lock()
        self.tokens: AccessTokens | None = None
        self._auth_session = requests.Session()
        self._auth_session.mount("http://", HTTPAdapter(max_retries=0))
        self._auth_session.mount("https://", HTTPAdapter(max_retries=0))
        self._auth_request = google.auth.transport.requests.Request(session=self._auth_session)
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def _get_access_token(self) -> str:
        # pyfcm asks when a thread's session header is 30 minutes old (or was refused).
        if self.tokens is None:
            with self._token_lock:
                if self.credentials is None:
                    self._initialize_credentials()
                if self.tokens is None:
                    self.tokens = AccessTokens(self.credentials, self._auth_request)
        refused = getattr(self.thread_local, "refused_token", None)
        self.thread_local.refused_token = None
        return self.tokens.get(refused=refused)

    def _session(self) -> requests.Session:
        session = self.requests_session  # pyfcm's per-thread session (our adapter mounted)
        if getattr(self.thread_local, "shield_session", None) is not session:  # once a thread
            with self._sessions_lock:
                _environment_once(session, self.fcm_end_point)
                self._sessions.append(session)
            self.thread_local.shield_session = session
        return session

    def post(self, payload: bytes, timeout: float) -> requests.Response:
        """POST one message; on ACCESS_TOKEN_EXPIRED refresh the token and resend once."""
        session = self._session()
        response = session.post(self.fcm_end_point, data=payload, timeout=timeout)
        if self._is_access_token_expired(response):
            used = str(session.headers.get("Authorization", "")).removeprefix("Bearer ")
            self.thread_local.refused_token = used
            self.thread_local.token_expiry = 0  # pyfcm sets the header again on next use
            response = self._session().post(self.fcm_end_point, data=payload, timeout=timeout)
        return response

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._auth_session.close()


def _environment_once(session: requests.Session, url: str) -> None:
    """Read the environment's proxy and CA settings for the (fixed) endpoint once.

    With `trust_env` on, requests re-reads them - and looks for a ~/.netrc, whose entry
    would replace our bearer token - on every request: about a fifth of the dispatcher's
    CPU per push in the benchmark (bench/RESULTS.md). The result is the same settings.
    """
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.cert = settings["cert"]


class FcmSender:
    """Sends messages concurrently; returns one classified SendResult per message."""

    name = "fcm"

    def __init__(
        self,
        service_account_file: str,
        *,
        endpoint: str | None = None,
        concurrency: int = 8,
        timeout: float = 10.0,
    ):
        self.timeout = timeout
        self.client = ShieldFCM(
            service_account_file, base=endpoint_base(endpoint), pool_size=concurrency
        )
        # Loads the credentials now: pyfcm loads them lazily and threads racing on the first
        # use raised TypeError (library notes).
        self.endpoint = self.client.fcm_end_point
        # The dispatcher runs its sends on this pool (one slot per thread).
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fcm-send")

    def send(self, message: PushMessage) -> SendResult:
        try:
            payload = self.client.parse_payload(**message.pyfcm_kwargs())
        except InvalidDataError as exc:
            return SendResult(PAYLOAD_REJECTED, error_code="PYFCM", detail=str(exc)[:300])
        try:
            response = self.client.post(payload, self.timeout)
        except requests.RequestException as exc:
            return SendResult(RETRYABLE, error_code="NETWORK", detail=type(exc).__name__)
        except google.auth.exceptions.GoogleAuthError as exc:
            # Refused by the token endpoint (revoked key, wrong token_uri, garbage answer) is
            # a configuration fault; a network error or a 5xx on the way is an outage.
            refused = isinstance(exc, google.auth.exceptions.RefreshError) and not exc.retryable
            code = OAUTH_REFUSED if refused else "OAUTH"
            log.error("FCM access token could not be obtained (%s): %s", code, exc)
            return SendResult(RETRYABLE, error_code=code, detail=str(exc)[:300])
        except Exception as exc:  # never lose a batch to one odd failure
            log.exception("unexpected error sending push %s", message.delivery_id)
            return SendResult(RETRYABLE, error_code="ERROR", detail=repr(exc)[:300])
        return classify(response.status_code, response.text, response.headers)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.client.close()
