"""Tokens as Entra ID issues them: claims (pure functions), RS256 signing, deliberate corruption for tests, and the
check Microsoft Graph makes on the bearer tokens it is given.
"""

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field

import jwt

from .directory import EXTERNALLY_AUTHENTICATED_UPN, GROUPS_CLAIM_LIMIT, Directory, Group, Person
from .keys import SigningKey, b64url, new_rsa_key

TOKEN_LIFETIME_SECONDS = 3600
# Microsoft Graph's well-known application id: tokens for Graph carry it (or Graph's URL) as their audience.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
USER_SCOPES = "openid profile email User.Read"
TAMPER_ALGORITHMS = ("none", "HS256-with-public-key", "foreign-key")


def pairwise_subject(oid: str, client_id: str) -> str:
    """``sub`` differs per application for the same person, as in Entra."""
    return b64url(hashlib.sha256(f"{oid}:{client_id}".encode()).digest())[:43]


def groups_in_token(directory: Directory, person: Person) -> list[Group] | None:
    """The groups the app registration's ``groupMembershipClaims`` puts in tokens; None: no groups claim at all.

    SecurityGroup: security groups only; All: every group type; ApplicationGroup: only groups assigned to the app.
    ref: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-group-claims
    """
    app = directory.app_registration
    groups = directory.groups_of(person)
    if app.group_membership_claims == "SecurityGroup":
        return [g for g in groups if g.security_enabled]
    if app.group_membership_claims == "ApplicationGroup":
        return [g for g in groups if g.id in app.assigned_groups]
    if app.group_membership_claims == "All":
        return groups
    return None


def group_claims(directory: Directory, person: Person) -> dict:
    """``groups``, or the overage signal when there are more than Entra puts in a token."""
    groups = groups_in_token(directory, person)
    if groups is None:
        return {}
    group_ids = [g.id for g in groups]
    if len(group_ids) <= GROUPS_CLAIM_LIMIT:
        return {"groups": group_ids}
    if person.overage_style == "hasgroups":
        return {"hasgroups": True}
    # The pointer Entra really emits: the legacy Azure AD Graph, which relying parties must not call as-is.
    endpoint = f"https://graph.windows.net/{directory.tenant_id}/users/{person.oid}/getMemberObjects"
    return {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": endpoint}}}


def _times(now: int, lifetime: int) -> dict:
    return {"iat": now, "nbf": now, "exp": now + lifetime}


def login_hint(person: Person, tenant_id: str) -> str:
    """The opaque ``login_hint`` optional claim; sent back as ``logout_hint`` it names the account to sign out."""
    return b64url(hashlib.sha256(f"login-hint:{tenant_id}:{person.oid}".encode()).digest())


def optional_claims(directory: Directory, person: Person) -> dict:
    """The optional claims the app registration asks for.

    ``upn``: a guest's is their own address unless ``include_externally_authenticated_upn`` asks for the ``#EXT#``
    form stored here; ``acct``: 0 member, 1 guest.
    ref: https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
    """
    wanted = directory.app_registration.optional_claims
    claims: dict = {}
    if "upn" in wanted:
        external = EXTERNALLY_AUTHENTICATED_UPN in wanted["upn"]
        claims["upn"] = person.username if external or not person.is_guest else person.sign_in_name
    if "acct" in wanted:
        claims["acct"] = 1 if person.is_guest else 0
    if "login_hint" in wanted:
        claims["login_hint"] = login_hint(person, directory.tenant_id)
    if "email" in wanted and person.is_guest:
        claims["email"] = person.mail
    return claims


def home_issuer(tenant_id: str) -> str:
    """``idp`` of a guest from another Entra tenant: that tenant's v1 issuer."""
    return f"https://sts.windows.net/{tenant_id}/"


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    directory: Directory,
    person: Person,
    nonce: str | None,
    session_id: str,
    now: int,
    lifetime: int = TOKEN_LIFETIME_SECONDS,
) -> dict:
    """A v2.0 id_token's claims. ``preferred_username`` is the name the person signs in with: a guest's own address,
    never the ``#EXT#`` UPN; a guest also gets ``idp`` (the home tenant) and, by default, ``email``.
    ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
    """
    claims = {
        "aud": client_id,
        "iss": issuer,
        **_times(now, lifetime),
        "name": person.name,
        "oid": person.oid,
        "preferred_username": person.sign_in_name,
        "sid": session_id,
        "sub": pairwise_subject(person.oid, client_id),
        "tid": directory.tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if person.is_guest:
        claims["idp"] = home_issuer(person.home_tenant_id)
        claims["email"] = person.mail
    claims.update(optional_claims(directory, person))
    claims.update(group_claims(directory, person))
    return claims


def sts_issuer(tenant_id: str) -> str:
    """The issuer of v1.0 access tokens, which is what Graph receives."""
    return f"https://sts.windows.net/{tenant_id}/"


def user_access_token_claims(
    *, tenant_id: str, client_id: str, audience: str, person: Person, now: int, lifetime: int = TOKEN_LIFETIME_SECONDS
) -> dict:
    return {
        "aud": audience,
        "iss": sts_issuer(tenant_id),
        **_times(now, lifetime),
        "appid": client_id,
        "idtyp": "user",
        "name": person.name,
        "oid": person.oid,
        "scp": USER_SCOPES,
        "sub": pairwise_subject(person.oid, GRAPH_APP_ID),
        "tid": tenant_id,
        "upn": person.username,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }


def service_principal_oid(tenant_id: str, client_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"service-principal:{client_id}"))


def app_token_claims(
    *, tenant_id: str, client_id: str, audience: str, roles: list[str], now: int, lifetime: int = TOKEN_LIFETIME_SECONDS
) -> dict:
    """A client-credentials token: the application itself, with the Graph application permissions it was granted
    (``roles``; none at all when nothing was granted, as Entra leaves the claim out)."""
    sp_oid = service_principal_oid(tenant_id, client_id)
    return {
        "aud": audience,
        "iss": sts_issuer(tenant_id),
        **_times(now, lifetime),
        "appid": client_id,
        "appidacr": "1",
        "idp": sts_issuer(tenant_id),
        "idtyp": "app",
        "oid": sp_oid,
        **({"roles": list(roles)} if roles else {}),
        "sub": sp_oid,
        "tid": tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }


def sign(claims: dict, key: SigningKey) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


# ---- deliberate corruption (test controls) ---------------------------------------------------------------------------


class TamperError(ValueError):
    """A tamper request that cannot be honoured; the message says which field and why."""


@dataclass
class Tamper:
    """How to corrupt the next ``count`` id_tokens."""

    alg: str | None = None  # None: sign properly (only claims/header change)
    claims: dict = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    header: dict = field(default_factory=dict)
    count: int = 1

    @classmethod
    def from_json(cls, body: dict) -> "Tamper":
        unknown = sorted(set(body) - {"alg", "claims", "drop", "header", "count"})
        if unknown:
            raise TamperError(f"unknown field {unknown[0]!r}: use alg, claims, drop, header, count")
        alg = body.get("alg")
        if alg is not None and alg not in TAMPER_ALGORITHMS:
            raise TamperError(f"alg must be one of {', '.join(TAMPER_ALGORITHMS)} (got {alg!r})")
        claims, header, drop, count = (
            body.get("claims", {}),
            body.get("header", {}),
            body.get("drop", []),
            body.get("count", 1),
        )
        if not isinstance(claims, dict) or not isinstance(header, dict):
            raise TamperError("claims and header must be JSON objects")
        if not isinstance(drop, list) or not all(isinstance(name, str) for name in drop):
            raise TamperError("drop must be a list of claim names")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise TamperError("count must be a whole number of id_tokens, at least 1")
        return cls(alg, claims, drop, header, count)

    def apply(self, claims: dict, key: SigningKey) -> str:
        """The id_token for ``claims``, corrupted as asked."""
        claims = {**{k: v for k, v in claims.items() if k not in self.drop}, **self.claims}
        header = {"typ": "JWT", "kid": key.kid, **self.header}
        if self.alg == "none":
            return _unsigned(claims, header)
        if self.alg == "HS256-with-public-key":
            return _hmac_signed_with_public_key(claims, header, key)
        if self.alg == "foreign-key":
            # Same kid as the real key, so only the signature check can catch it.
            return jwt.encode(claims, new_rsa_key(), algorithm="RS256", headers=header)
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=header)


def _segment(data: dict) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def _unsigned(claims: dict, header: dict) -> str:
    return f"{_segment({**header, 'alg': 'none'})}.{_segment(claims)}."


def _hmac_signed_with_public_key(claims: dict, header: dict, key: SigningKey) -> str:
    """The algorithm-confusion attack: HS256 keyed with the published public key (PyJWT rightly refuses to)."""
    signing_input = f"{_segment({**header, 'alg': 'HS256'})}.{_segment(claims)}"
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


# ---- what Graph checks ---------------------------------------------------------------------------------------------


class BearerError(Exception):
    """A bearer token Graph refuses; ``message`` is what Graph would say."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def verify_bearer(token: str, keys: dict[str, SigningKey], *, tenant_id: str, audiences: set[str]) -> dict:
    """The claims of an access token this emulator issued for Graph, or :class:`BearerError`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise BearerError("IDX14100: JWT is not well formed.") from None
    key = keys.get(header.get("kid", ""))
    if header.get("alg") != "RS256" or key is None:
        raise BearerError("Access token validation failure. Invalid signature.")
    try:
        return jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            audience=sorted(audiences),
            issuer=sts_issuer(tenant_id),
            options={"require": ["exp", "iat", "aud", "iss", "tid"]},
        )
    except jwt.ExpiredSignatureError:
        raise BearerError("Lifetime validation failed, the token is expired.") from None
    except jwt.InvalidAudienceError:
        raise BearerError("Access token validation failure. Invalid audience.") from None
    except jwt.InvalidSignatureError:
        raise BearerError("Access token validation failure. Invalid signature.") from None
    except jwt.PyJWTError:
        raise BearerError("Access token validation failure.") from None
