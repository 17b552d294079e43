"""The one safe-name rule: literal expectations, and the properties every caller relies on."""

import random
import re

import pytest

from authenticator.entra import hub_username, is_guest
from authenticator.safe_names import MAX_LENGTH, is_safe_name, safe_name

pytestmark = pytest.mark.unit

K8S_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ROLE_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ana", "ana"),
        ("Ana.Smith", "ana.smith"),  # case folded on purpose: UPNs are case-insensitive
        ("a/b", "a-b--c14cddc0"),
        ("a b", "a-b--c8687a08"),
        ("../etc", "etc--f7f9121f"),
        ("a..b", "a.b--f62b4241"),
        ("Jöhn Smith", "j-hn-smith--55bdb458"),
        ("ünïcödé", "n-c-d--b09ad3e2"),
        ("x" * 60, "x" * 38 + "--42f2d973"),
        ("a--b", "a-b--90827a2e"),  # '--' is reserved for the suffix
        ("bob-", "bob--671cc3ed"),
        ("ana@contoso.example", "ana-contoso.example--8cd61832"),
    ],
)
def test_safe_name_literal(name, expected):
    assert safe_name(name) == expected


def test_names_that_collide_after_sanitizing_stay_distinct():
    # All three sanitize to the stem "ab-cd"; the hash of the original keeps them apart.
    names = {safe_name(n) for n in ("ab/cd", "ab cd", "ab\\cd")}
    assert names == {"ab-cd--d79e196d", "ab-cd--b09c5477", "ab-cd--0bd0f4ee"}
    # A kept name can never equal a rewritten one: only rewritten names contain '--'.
    assert safe_name("ab-cd") == "ab-cd" and "ab-cd" not in names


def test_empty_name_is_refused():
    with pytest.raises(ValueError, match="must not be empty"):
        safe_name("")


def test_every_result_is_safe_everywhere_and_stable():
    rng = random.Random(1234)
    alphabet = "abcXYZ019._- /\\@#:+é漢\u200b"
    for _ in range(3000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 70)))
        result = safe_name(name)
        assert is_safe_name(result), name
        assert len(result) <= MAX_LENGTH
        assert ".." not in result and "/" not in result
        assert K8S_LABEL_VALUE.fullmatch(result), name
        assert ROLE_SESSION_NAME.fullmatch(result), name
        assert safe_name(result) == result  # idempotent: safe names pass through every layer unchanged
        assert safe_name(name) == result  # deterministic


@pytest.mark.parametrize(
    ("claim", "strip", "expected"),
    [
        ("ana@contoso.example", ["contoso.example"], "ana"),
        ("ANA@Contoso.Example", ["contoso.example"], "ana"),
        ("ana@other.example", ["contoso.example"], "ana-other.example--fc6004a0"),
        ("gus_fabrikam.example#EXT#@contoso.example", ["contoso.example"], "gus_fabrikam.example-guest"),
        ("GUS_Fabrikam.example#EXT#@contoso.onmicrosoft.com", [], "gus_fabrikam.example-guest"),
        ("@contoso.example", ["contoso.example"], "contoso.example--9076740a"),  # nothing left: not stripped
    ],
)
def test_hub_username(claim, strip, expected):
    assert hub_username(claim, strip) == expected


TENANT = "05635727-18e2-4663-9497-cc4ac795197b"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


@pytest.mark.parametrize(
    ("claims", "guest"),
    [
        ({"preferred_username": "ana@contoso.com"}, False),  # a member: no idp
        ({"preferred_username": "ana@contoso.com", "idp": f"https://sts.windows.net/{TENANT}/"}, False),
        ({"preferred_username": "ana@fabrikam.com", "idp": "https://sts.windows.net/3c9c2f1e-0000-4000-8000-1/"}, True),
        ({"preferred_username": "ana@outlook.com", "idp": "live.com"}, True),  # a personal Microsoft account
        ({"preferred_username": "ana@fabrikam.com", "acct": 1}, True),
        ({"preferred_username": "ana@contoso.com", "acct": 0}, False),
        ({"preferred_username": "ana_fabrikam.com#EXT#@contoso.com"}, True),
        ({"preferred_username": "ana@fabrikam.com", "upn": "ana_fabrikam.com#EXT#@contoso.com"}, True),
    ],
    ids=["member", "member-own-idp", "guest-idp", "msa-guest", "acct-1", "acct-0", "ext-name", "ext-upn"],
)
def test_guests_are_recognised_by_idp_acct_or_an_ext_upn(claims, guest):
    # ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (idp)
    assert is_guest({"iss": ISSUER, "tid": TENANT, **claims}, TENANT) is guest


@pytest.mark.parametrize(
    ("claim", "guest", "expected"),
    [
        ("ana@contoso.com", False, "ana"),
        ("ana@fabrikam.com", True, "ana_fabrikam.com-guest"),  # never stripped, even if fabrikam.com were listed
        ("ana_fabrikam.com#EXT#@contoso.com", False, "ana_fabrikam.com-guest"),  # the UPN Graph and the CLI see
        ("Gus@Fabrikam.Example", True, "gus_fabrikam.example-guest"),
    ],
)
def test_a_guest_never_collides_with_a_member_and_has_one_name(claim, guest, expected):
    assert hub_username(claim, ["contoso.com", "fabrikam.com"], guest=guest) == expected
