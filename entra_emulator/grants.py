"""What the emulator remembers between requests: sign-ins in progress, authorization codes and refresh tokens.

Codes and refresh tokens are kept by their SHA-256, never as given out, and name the person by object id (a rename
keeps them working, as in Entra). The clock is injected so that expiry can be tested without waiting.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CODE_LIFETIME_SECONDS = 600  # Entra's authorization codes live about ten minutes
SIGN_IN_LIFETIME_SECONDS = 1800  # how long a login form stays usable
REFRESH_TOKEN_LIFETIME_SECONDS = 90 * 24 * 3600  # Entra's inactivity window


class GrantError(Exception):
    """A code or refresh token that cannot be used. ``reason``: unknown, expired, redeemed or revoked."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorization request, kept while the person signs in and then inside the code."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    login_hint: str = ""


@dataclass
class CodeGrant:
    request: AuthorizeRequest
    oid: str
    session_id: str
    expires_at: float
    redeemed: bool = False


@dataclass
class RefreshGrant:
    client_id: str
    oid: str
    scopes: tuple[str, ...]
    session_id: str
    expires_at: float
    revoked: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Grants:
    clock: Callable[[], float] = time.time
    _sign_ins: dict[str, tuple[AuthorizeRequest, float]] = field(default_factory=dict)
    _codes: dict[str, CodeGrant] = field(default_factory=dict)
    _refresh: dict[str, RefreshGrant] = field(default_factory=dict)

    # ---- sign-ins in progress (the login form carries only an opaque context id) ----

    def begin_sign_in(self, request: AuthorizeRequest) -> str:
        self._forget_expired()
        context = secrets.token_urlsafe(24)
        self._sign_ins[context] = (request, self.clock() + SIGN_IN_LIFETIME_SECONDS)
        return context

    def sign_in(self, context: str) -> AuthorizeRequest | None:
        entry = self._sign_ins.get(context)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def end_sign_in(self, context: str) -> None:
        self._sign_ins.pop(context, None)

    # ---- authorization codes: single use, short-lived ----

    def issue_code(self, request: AuthorizeRequest, oid: str, session_id: str) -> str:
        self._forget_expired()
        code = secrets.token_urlsafe(48)
        self._codes[_digest(code)] = CodeGrant(request, oid, session_id, self.clock() + CODE_LIFETIME_SECONDS)
        return code

    def redeem_code(self, code: str) -> CodeGrant:
        """The code's grant, marked used. A second redemption is refused (``redeemed``), as Entra does."""
        grant = self._codes.get(_digest(code))
        if grant is None:
            raise GrantError("unknown")
        if grant.redeemed:
            raise GrantError("redeemed")
        if grant.expires_at <= self.clock():
            raise GrantError("expired")
        grant.redeemed = True
        return grant

    # ---- refresh tokens: a new one with every use, and the used one stays valid ----

    def issue_refresh_token(self, client_id: str, oid: str, scopes: tuple[str, ...], session_id: str) -> str:
        self._forget_expired()
        token = secrets.token_urlsafe(64)
        expires_at = self.clock() + REFRESH_TOKEN_LIFETIME_SECONDS
        self._refresh[_digest(token)] = RefreshGrant(client_id, oid, scopes, session_id, expires_at)
        return token

    def redeem_refresh_token(self, token: str) -> RefreshGrant:
        """The token's grant. Using a refresh token does not revoke it: Entra leaves deleting the old one to the
        client (ref: https://learn.microsoft.com/entra/identity-platform/refresh-tokens)."""
        grant = self._refresh.get(_digest(token))
        if grant is None:
            raise GrantError("unknown")
        if grant.revoked:
            raise GrantError("revoked")
        if grant.expires_at <= self.clock():
            raise GrantError("expired")
        return grant

    def revoke_sessions(self, oid: str) -> int:
        """Revoke every refresh token of a person (Graph's revokeSignInSessions); returns how many were live."""
        live = [g for g in self._refresh.values() if g.oid == oid and not g.revoked]
        for grant in live:
            grant.revoked = True
        return len(live)

    def _forget_expired(self) -> None:
        now = self.clock()
        self._sign_ins = {k: v for k, v in self._sign_ins.items() if v[1] > now}
        # Redeemed codes are kept until they expire, so that a replay is told "already redeemed".
        self._codes = {k: v for k, v in self._codes.items() if v.expires_at > now}
        self._refresh = {k: v for k, v in self._refresh.items() if v.expires_at > now}
