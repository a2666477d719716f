"""One OAuth access token for every send thread of a process, refreshed in a single flight.

- A send with a valid token never waits: when the token nears its end, one thread refreshes
  it in the background while the others keep sending with the current one.
- Without a valid token, one thread asks the token endpoint and the others wait for that
  answer instead of each asking (a refused token: the next one newer than it).
- google-auth's own retries (about 3 s of backoff inside one refresh) are not used: a failed
  refresh is answered at once, as an OAuth error the breaker counts, and the next refresh is
  tried no sooner than `retry_seconds` later.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from google.oauth2 import _client as oauth_client

log = logging.getLogger(__name__)

# pyfcm keeps a token in a thread's session for 30 minutes; a fresh one must outlive that.
FRESH_FOR = timedelta(minutes=31)


class AccessTokens:
    def __init__(self, credentials, request, *, retry_seconds: float = 1.0, wait_seconds=30.0):
        self.credentials = credentials
        self.request = request
        self.retry_seconds = retry_seconds
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._flight: threading.Event | None = None  # set when the refresh in flight ends
        self._error: Exception | None = None  # the last refresh's failure
        self._failed_at = float("-inf")
        self.refreshes = 0  # token requests made (tests, metrics)

    def get(self, refused: str | None = None) -> str:
        """A valid access token (not `refused`, which FCM just called expired)."""
        for _ in range(2):
            with self._lock:
                token, fresh, valid = self._state(refused)
                if fresh:
                    return token
                flight = self._flight
                lead = flight is None
                if lead:
                    if valid or time.monotonic() - self._failed_at >= self.retry_seconds:
                        flight = self._flight = threading.Event()
                    elif self._error is not None:
                        raise self._error  # refreshed and failed just now: no new request
            if lead and valid:
                threading.Thread(target=self._refresh, args=(flight,), daemon=True).start()
                return token
            if valid:
                return token  # a refresh is under way; this token still works
            if lead:
                self._refresh(flight)
            elif not flight.wait(self.wait_seconds):
                raise TimeoutError("the OAuth token refresh did not end")
            with self._lock:
                token, _, valid = self._state(refused)
                if valid:
                    return token
                if self._error is not None:
                    raise self._error
        raise RuntimeError("the OAuth token endpoint answered with an unusable token")

    def _state(self, refused: str | None) -> tuple[str | None, bool, bool]:
        creds = self.credentials
        token = creds.token
        if not token or token == refused or creds.expiry is None:
            return token, False, False
        left = creds.expiry - datetime.now(UTC).replace(tzinfo=None)  # google-auth: naive UTC
        return token, left >= FRESH_FOR, left > timedelta(seconds=10)

    def _refresh(self, flight: threading.Event) -> None:
        error = None
        try:
            self.refreshes += 1
            creds = self.credentials
            assertion = creds._make_authorization_grant_assertion()
            token, expiry, _ = oauth_client.jwt_grant(
                self.request, creds._token_uri, assertion, can_retry=False
            )
            creds.token, creds.expiry = token, expiry
        except Exception as exc:  # handed to the threads waiting for this refresh
            error = exc
            log.warning("OAuth token refresh failed: %s", exc)
        with self._lock:
            self._error = error
            if error is not None:
                self._failed_at = time.monotonic()
            self._flight = None
        flight.set()
