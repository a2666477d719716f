"""Bearer JWT authentication: who is calling, and are they an admin."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from flask import current_app, g, request

from models.member import ROLE_ADMIN, ROLE_MEMBER

from .bounded_cache import SLOT_BYTES, BoundedCache, getsize
from .errors import AuthError, Forbidden
from .requests import storable_text

TOKEN_CACHE_KEY = "shield.token_cache"  # noqa: S105 (an extensions key, not a secret)
DEFAULT_TOKEN_CACHE_BYTES = 72 * 1024 * 1024  # docs/performance.md: the worker budget


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as the token says; the member row is created on first write or poll."""

    id: str
    role: str
    email: str | None
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


def decode_token(token: str, config) -> Principal:
    """Verify a JWT with the pinned algorithm; raise AuthError with the spec code."""
    # `exp` is checked here, not by PyJWT, which reads it with int(): "1999999999", 1e20 and
    # true pass there and fail later.
    options = {
        "require": ["exp", "sub"],
        "verify_aud": bool(config.get("SHIELD_JWT_AUDIENCE")),
        "verify_exp": False,
    }
    try:
        claims = jwt.decode(
            token,
            config["SHIELD_JWT_VERIFY_KEY"],
            algorithms=[config["SHIELD_JWT_ALGORITHM"]],
            audience=config.get("SHIELD_JWT_AUDIENCE"),
            issuer=config.get("SHIELD_JWT_ISSUER"),
            leeway=config.get("SHIELD_JWT_LEEWAY", 0),
            options=options,
        )
    except jwt.PyJWTError:
        raise AuthError("The token is not valid.") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 128 or not _printable(sub):
        raise AuthError("The token has no usable subject.")
    expires_at = _expiry(claims.get("exp"))
    if expires_at.timestamp() <= time.time() - config.get("SHIELD_JWT_LEEWAY", 0):
        raise AuthError("The token has expired.", code="AUTH_EXPIRED")
    role = claims.get("role")
    roles = claims.get("roles")
    is_admin = role == ROLE_ADMIN or (isinstance(roles, list) and ROLE_ADMIN in roles)
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    return Principal(
        id=sub,
        role=ROLE_ADMIN if is_admin else ROLE_MEMBER,
        email=email,
        expires_at=expires_at,
    )


# Far enough ahead for any real token, near enough that datetime and every database can hold it.
MAX_EXP = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def _expiry(exp) -> datetime:
    """The `exp` claim as a datetime; a string, bool, NaN or far-off number is AUTH_INVALID."""
    # PyJWT checks `exp` with int(), so "1999999999" and 1e20 reach here.
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 <= exp < MAX_EXP:
        raise AuthError("The token's expiry is not a NumericDate.")
    return datetime.fromtimestamp(exp, UTC)


def _printable(text: str) -> bool:
    """No control characters (NUL and friends) and valid UTF-8: safe for columns and logs."""
    return text.isprintable() and storable_text(text)


def bearer_or_none(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_token(header: str | None) -> str:
    """Extract the token from an `Authorization: Bearer ...` header."""
    token = bearer_or_none(header)
    if token is None:
        raise AuthError("An Authorization: Bearer token is required.")
    return token


def _token_entry_bytes(key: bytes, principal: Principal) -> int:
    return SLOT_BYTES + getsize(key, principal, principal.id, principal.email, principal.expires_at)


class TokenCache:
    """Tokens already verified by this process, keyed by a digest of the exact token.

    A poll carries the same token every 30 s, so each is verified once per process; an
    entry is used only before `exp` + leeway (PyJWT's own limit), after which the token is
    decoded again (and refused as expired). The key is a 128-bit BLAKE2b digest of the whole
    token, signature included, so a changed token is never a hit; it costs 49 bytes where
    the token itself costs ~250. Held to `max_bytes` (`SHIELD_AUTH_CACHE_BYTES`, 0 turns it
    off), oldest first out: about 280 bytes an entry, so the default 72 MiB holds ~270,000.
    """

    def __init__(self, max_bytes: int, leeway: float = 0) -> None:
        self._items = BoundedCache(max_bytes, _token_entry_bytes)
        self.leeway = leeway
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.blake2b(token.encode(), digest_size=16).digest()

    def __contains__(self, token: str) -> bool:
        return self.key(token) in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:  # an empty cache is still a cache (`cache or None` above)
        return True

    def peek(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired, else None."""
        hit = self._items.get(self.key(token))
        if hit is not None and time.time() < hit.expires_at.timestamp() + self.leeway:
            self.hits += 1
            return hit
        return None

    def principal(self, token: str, config) -> Principal:
        cached = self.peek(token)
        if cached is not None:
            return cached
        self.misses += 1
        principal = decode_token(token, config)
        with self._lock:
            self._items.put(self.key(token), principal)
        return principal

    def stats(self) -> dict:
        return {
            "entries": len(self._items),
            "bytes": self._items.bytes,
            "max_bytes": self._items.max_bytes,
            "evictions": self._items.evictions,
            "hits": self.hits,
            "misses": self.misses,
        }


def cached_principal(app, token: str) -> Principal | None:
    """The principal of a token this process verified before (and not expired), else None."""
    cache = app.extensions.get(TOKEN_CACHE_KEY)
    return cache.peek(token) if cache else None


def _token_cache(app) -> TokenCache | None:
    cache = app.extensions.get(TOKEN_CACHE_KEY)
    if cache is None:
        size = app.config.get("SHIELD_AUTH_CACHE_BYTES")
        if size is None:
            size = os.environ.get("SHIELD_AUTH_CACHE_BYTES") or DEFAULT_TOKEN_CACHE_BYTES
        size = int(size)
        leeway = app.config.get("SHIELD_JWT_LEEWAY", 0)
        cache = TokenCache(size, leeway) if size else False
        cache = app.extensions.setdefault(TOKEN_CACHE_KEY, cache)
    return cache or None


def authenticate() -> Principal:
    """Authenticate the current request (a blueprint's before_request)."""
    app = current_app._get_current_object()
    token = bearer_token(request.environ.get("HTTP_AUTHORIZATION"))
    cache = _token_cache(app)
    if cache is not None:
        principal = cache.principal(token, app.config)
    else:
        principal = decode_token(token, app.config)
    g.principal = principal
    return principal


def require_admin() -> Principal:
    """Authenticate and insist on the admin role."""
    principal = authenticate()
    if not principal.is_admin:
        raise Forbidden("This action needs the admin role.")
    return principal


def current_principal() -> Principal:
    return g.principal


def issue_token(
    config,
    subject: str,
    *,
    admin: bool = False,
    email: str | None = None,
    ttl: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> str:
    """Sign a token valid for this configuration (dev tooling and tests)."""
    key = config.get("SHIELD_JWT_SIGN_KEY")
    if not key:
        raise RuntimeError("no signing key: set SHIELD_JWT_PRIVATE_KEY to mint RS256 tokens")
    now = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "iat": now,
        "exp": now + ttl,
        "role": ROLE_ADMIN if admin else ROLE_MEMBER,
    }
    if email:
        claims["email"] = email
    if config.get("SHIELD_JWT_ISSUER"):
        claims["iss"] = config["SHIELD_JWT_ISSUER"]
    if config.get("SHIELD_JWT_AUDIENCE"):
        claims["aud"] = config["SHIELD_JWT_AUDIENCE"]
    return jwt.encode(claims, key, algorithm=config["SHIELD_JWT_ALGORITHM"])
