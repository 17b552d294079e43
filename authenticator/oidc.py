"""OpenID Connect for the Microsoft identity platform v2.0: discovery, signing keys, id_token verification.

:func:`verify_id_token` is pure (a token, keys and expectations in; claims or :class:`IdTokenError` out).
:class:`OpenIDProvider` does the I/O: it fetches the discovery document and the JWKS once, caches them, and on a
token signed with an unknown ``kid`` refetches the JWKS once (key rotation) but never more often than
``jwks_min_refetch_seconds``, so a stream of forged tokens cannot turn every login into a JWKS download.
"""

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
from jwt.algorithms import RSAAlgorithm

ALLOWED_ALGORITHMS = ("RS256",)  # what Entra ID signs id_tokens with; never "none" or an HMAC
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "tid", "oid")


class IdTokenError(Exception):
    """The id_token was refused. ``reason`` names the failed check, never the token's contents."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Expectations:
    issuer: str
    client_id: str
    tenant_id: str
    leeway_seconds: int = 120
    nonce: str | None = None  # required at sign-in; a refreshed id_token carries none


def verify_id_token(token: str, keys: dict, expect: Expectations) -> dict:
    """Verify an Entra ID v2.0 id_token and return its claims.

    ``keys`` maps ``kid`` to a public key object. Checks, in order: the header's algorithm is RS256; the ``kid`` is
    known; the RS256 signature; ``iss``, ``aud``, ``exp``/``nbf``/``iat`` (with leeway); ``tid``; ``nonce``.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdTokenError("the id_token is not a well-formed JWT") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise IdTokenError(f"the id_token is signed with algorithm {alg!r}; only RS256 is accepted")
    kid = header.get("kid")
    if not kid or kid not in keys:
        raise IdTokenError("the id_token's signing key (kid) is not in the tenant's published keys")
    try:
        claims = jwt.decode(
            token,
            keys[kid],
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=expect.client_id,
            issuer=expect.issuer,
            leeway=expect.leeway_seconds,
            options={"require": list(REQUIRED_CLAIMS), "verify_iat": True},
        )
    except jwt.InvalidSignatureError:
        raise IdTokenError("the id_token's signature does not verify with the tenant's key") from None
    except jwt.ExpiredSignatureError:
        raise IdTokenError("the id_token has expired") from None
    except jwt.ImmatureSignatureError:
        raise IdTokenError("the id_token is not valid yet (nbf or iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise IdTokenError("the id_token was issued for another application (aud)") from None
    except jwt.InvalidIssuerError:
        raise IdTokenError("the id_token was issued by another authority (iss)") from None
    except jwt.MissingRequiredClaimError as e:
        raise IdTokenError(f"the id_token lacks the required claim {e.claim!r}") from None
    except jwt.PyJWTError as e:
        raise IdTokenError(f"the id_token is invalid ({type(e).__name__})") from None
    if claims.get("tid") != expect.tenant_id:
        raise IdTokenError("the id_token was issued for another tenant (tid)")
    if expect.nonce is not None and claims.get("nonce") != expect.nonce:
        raise IdTokenError("the id_token's nonce does not match this sign-in attempt")
    return claims


# fetch(url) -> parsed JSON; injected so this module does no HTTP of its own choosing.
FetchJSON = Callable[[str], Awaitable[dict]]


class OpenIDProvider:
    """Discovery document and signing keys of one tenant, cached."""

    def __init__(
        self,
        discovery_url: str,
        fetch_json: FetchJSON,
        *,
        cache_seconds: float = 24 * 3600,
        jwks_min_refetch_seconds: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.discovery_url = discovery_url
        self._fetch_json = fetch_json
        self._cache_seconds = cache_seconds
        self._min_refetch = jwks_min_refetch_seconds
        self._clock = clock
        self._config: dict | None = None
        self._config_at = 0.0
        self._keys: dict = {}
        self._keys_at: float | None = None

    async def configuration(self) -> dict:
        """The discovery document (authorization, token and JWKS endpoints, issuer)."""
        if self._config is None or self._clock() - self._config_at > self._cache_seconds:
            config = await self._fetch_json(self.discovery_url)
            missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if k not in config]
            if missing:
                raise ValueError(f"OpenID discovery at {self.discovery_url} lacks {', '.join(missing)}")
            self._config, self._config_at = config, self._clock()
        return self._config

    async def signing_keys(self, kid: str | None = None) -> dict:
        """Keys by ``kid``. Refetched when stale, or when ``kid`` is unknown and the last fetch is not too recent."""
        now = self._clock()
        stale = self._keys_at is None or now - self._keys_at > self._cache_seconds
        rotated = kid is not None and kid not in self._keys and now - (self._keys_at or 0) >= self._min_refetch
        if stale or rotated:
            config = await self.configuration()
            jwks = await self._fetch_json(config["jwks_uri"])
            self._keys = parse_jwks(jwks)
            self._keys_at = now
        return self._keys

    async def verify(self, token: str, client_id: str, tenant_id: str, nonce: str | None, leeway: int) -> dict:
        config = await self.configuration()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            kid = None
        keys = await self.signing_keys(kid)
        expect = Expectations(config["issuer"], client_id, tenant_id, leeway, nonce)
        return verify_id_token(token, keys, expect)


def parse_jwks(jwks: dict) -> dict:
    """RSA signing keys of a JWKS document by ``kid`` (other key types and uses are ignored)."""
    keys = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig" and jwk.get("kid"):
            keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
    return keys
