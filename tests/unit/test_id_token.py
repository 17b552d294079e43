"""id_token verification: every forged, misdirected or stale token is refused with the check that failed."""

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from authenticator.oidc import Expectations, IdTokenError, OpenIDProvider, parse_jwks, verify_id_token

pytestmark = pytest.mark.unit

TENANT = "11111111-2222-4333-8444-555555555555"
CLIENT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
ISSUER = f"https://login.example/{TENANT}/v2.0"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**overrides):
    now = int(time.time())
    base = {
        "ver": "2.0",
        "iss": ISSUER,
        "aud": CLIENT,
        "tid": TENANT,
        "oid": "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f",
        "sub": "pairwise-subject",
        "preferred_username": "ana@contoso.example",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "nonce": NONCE,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key, payload, kid="k1", alg="RS256"):
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def keys_of(key, kid="k1"):
    return {kid: key.public_key()}


EXPECT = Expectations(ISSUER, CLIENT, TENANT, leeway_seconds=60, nonce=NONCE)


def test_a_good_token_verifies(signing_key):
    verified = verify_id_token(sign(signing_key, claims()), keys_of(signing_key), EXPECT)
    assert verified["oid"] == "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f"


def _unsigned(payload):
    def b64(data):
        return jwt.utils.base64url_encode(json.dumps(data).encode()).decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{b64(payload)}."


def _hs256_with_public_key(key, payload):
    # The classic confusion attack: HMAC "signed" with the RSA public key that anyone can download.
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(payload).encode())
    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + jwt.utils.base64url_encode(signature)).decode()


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda k, o: _unsigned(claims()), "the id_token is signed with algorithm 'none'; only RS256 is accepted"),
        (
            lambda k, o: _hs256_with_public_key(k, claims()),
            "the id_token is signed with algorithm 'HS256'; only RS256 is accepted",
        ),
        (
            lambda k, o: sign(o, claims(), kid="attacker"),
            "the id_token's signing key (kid) is not in the tenant's published keys",
        ),
        (lambda k, o: sign(o, claims()), "the id_token's signature does not verify with the tenant's key"),
        (
            lambda k, o: sign(k, claims(iss="https://login.example/evil/v2.0")),
            "the id_token was issued by another authority (iss)",
        ),
        (
            lambda k, o: sign(k, claims(tid="99999999-2222-4333-8444-555555555555")),
            "the id_token was issued for another tenant (tid)",
        ),
        (lambda k, o: sign(k, claims(aud="another-app")), "the id_token was issued for another application (aud)"),
        (
            lambda k, o: sign(k, claims(exp=int(time.time()) - 600, iat=int(time.time()) - 4000)),
            "the id_token has expired",
        ),
        (
            lambda k, o: sign(k, claims(nbf=int(time.time()) + 600)),
            "the id_token is not valid yet (nbf or iat in the future)",
        ),
        (lambda k, o: sign(k, claims(nonce="replayed")), "the id_token's nonce does not match this sign-in attempt"),
        (lambda k, o: sign(k, claims(nonce=None)), "the id_token's nonce does not match this sign-in attempt"),
        (lambda k, o: sign(k, claims(tid=None)), "the id_token lacks the required claim 'tid'"),
        (lambda k, o: sign(k, claims(oid=None)), "the id_token lacks the required claim 'oid'"),
        (lambda k, o: "not-a-jwt", "the id_token is not a well-formed JWT"),
    ],
    ids=[
        "alg-none",
        "hs256-public-key",
        "unknown-kid",
        "foreign-key-known-kid",
        "wrong-iss",
        "wrong-tid",
        "wrong-aud",
        "expired",
        "nbf-future",
        "wrong-nonce",
        "missing-nonce",
        "missing-tid",
        "missing-oid",
        "garbage",
    ],
)
def test_bad_tokens_are_refused(signing_key, other_key, forge, reason):
    with pytest.raises(IdTokenError) as refused:
        verify_id_token(forge(signing_key, other_key), keys_of(signing_key), EXPECT)
    assert refused.value.reason == reason


def test_expiry_leeway_tolerates_small_clock_skew(signing_key):
    token = sign(signing_key, claims(exp=int(time.time()) - 30))
    assert verify_id_token(token, keys_of(signing_key), EXPECT)["tid"] == TENANT


def test_refused_reasons_never_carry_token_contents(signing_key, other_key):
    token = sign(other_key, claims(preferred_username="secret-person@contoso.example"))
    with pytest.raises(IdTokenError) as refused:
        verify_id_token(token, keys_of(signing_key), EXPECT)
    assert "secret-person" not in str(refused.value) and token not in str(refused.value)


def jwks_of(*pairs):
    return {"keys": [{**json.loads(RSAAlgorithm.to_jwk(k.public_key())), "kid": kid, "use": "sig"} for kid, k in pairs]}


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_unknown_kid_refetches_keys_once_then_is_rate_limited(signing_key, other_key):
    """Key rotation is picked up by one refetch; forged kids cannot force a refetch on every login."""
    clock = FakeClock()
    published = {"jwks": jwks_of(("k1", signing_key))}
    fetched = []

    async def fetch_json(url):
        fetched.append(url)
        if url.endswith("openid-configuration"):
            return {"issuer": ISSUER, "authorization_endpoint": "a", "token_endpoint": "t", "jwks_uri": "jwks"}
        return published["jwks"]

    provider = OpenIDProvider("https://x/.well-known/openid-configuration", fetch_json, clock=clock)
    await provider.verify(sign(signing_key, claims()), CLIENT, TENANT, NONCE, 60)
    assert fetched.count("jwks") == 1
    await provider.verify(sign(signing_key, claims()), CLIENT, TENANT, NONCE, 60)
    assert fetched.count("jwks") == 1  # cached

    # The tenant rotates to k2. The first k2 token triggers exactly one refetch and verifies.
    published["jwks"] = jwks_of(("k1", signing_key), ("k2", other_key))
    clock.now += 120
    await provider.verify(sign(other_key, claims(), kid="k2"), CLIENT, TENANT, NONCE, 60)
    assert fetched.count("jwks") == 2

    # A burst of tokens with unknown kids within the refetch interval: no further downloads.
    for i in range(20):
        with pytest.raises(IdTokenError):
            await provider.verify(sign(other_key, claims(), kid=f"forged-{i}"), CLIENT, TENANT, NONCE, 60)
    assert fetched.count("jwks") == 2
    assert fetched.count("https://x/.well-known/openid-configuration") == 1


def test_parse_jwks_keeps_rsa_signing_keys_only(signing_key):
    jwks = jwks_of(("k1", signing_key))
    jwks["keys"].append({"kty": "EC", "kid": "ec1", "crv": "P-256", "x": "", "y": ""})
    jwks["keys"].append({**jwks["keys"][0], "kid": "enc1", "use": "enc"})
    assert list(parse_jwks(jwks)) == ["k1"]
