"""The emulator's pure parts: the directory file, group claims and overage, grant lifetimes, tamper requests."""

import uuid

import pytest

from entra_emulator.directory import DirectoryError, default_oid, load_directory, parse_directory
from entra_emulator.grants import CODE_LIFETIME_SECONDS, AuthorizeRequest, GrantError, Grants
from entra_emulator.tokens import Tamper, TamperError, group_claims
from tests.fixtures.emulator import DEMO_DIRECTORY

pytestmark = pytest.mark.unit

TENANT = "05635727-18e2-4663-9497-cc4ac795197b"
GROUP = "253daff1-76ee-47b8-9495-b4b707cbf668"


def directory(*users, groups=None):
    return parse_directory(
        {
            "tenant_id": TENANT,
            "groups": [{"id": GROUP, "display_name": "Analysts"}] if groups is None else groups,
            "users": list(users),
        },
        source="dir.yaml",
    )


# ---- the directory file -------------------------------------------------------------------------------------------


def test_demo_directory_has_the_demo_people():
    demo = load_directory(DEMO_DIRECTORY)
    assert demo.display_name == "Contoso"
    assert {p.username for p in demo.people.values()} == {
        "ana@contoso.example",
        "sam@contoso.example",
        "alex@contoso.example",
        "noah@contoso.example",
        "olga@contoso.example",
        "gus_fabrikam.example#EXT#@contoso.example",
    }
    assert len(demo.groups_of(demo.person("olga@contoso.example"))) == 251


def test_oid_defaults_to_a_uuid5_of_the_lowercased_username_in_the_tenant():
    d = directory({"username": "Ana@Contoso.example", "name": "Ana"})
    person = d.person("ana@contoso.example")
    assert (
        person.oid
        == str(uuid.uuid5(uuid.UUID(TENANT), "ana@contoso.example"))
        == default_oid(TENANT, "ANA@contoso.example")
    )
    assert d.person_by_oid(person.oid.upper()) is person


def test_filler_groups_are_shared_and_numbered():
    d = directory(
        {"username": "a@x.example", "name": "A", "filler_groups": 3},
        {"username": "b@x.example", "name": "B", "groups": [GROUP], "filler_groups": 2},
    )
    a, b = d.groups_of(d.person("a@x.example")), d.groups_of(d.person("b@x.example"))
    assert [g.display_name for g in a] == ["Filler group 0001", "Filler group 0002", "Filler group 0003"]
    assert [g.id for g in b] == [GROUP, a[0].id, a[1].id]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"tenant_id": "common", "users": []},
            "dir.yaml: tenant_id: 'common' is not a GUID. Fix: write it like 8-4-4-4-12 hexadecimal digits",
        ),
        (
            {"tenant_id": TENANT, "users": [], "tenants": []},
            "dir.yaml: (top level): unknown key 'tenants'. "
            "Fix: use only display_name, groups, tenant_id, users (see the README)",
        ),
        (
            {"tenant_id": TENANT, "users": [{"username": "ana", "name": "Ana"}]},
            "dir.yaml: users[0].username: 'ana' is not a user principal name. Fix: write it as name@domain.example",
        ),
        (
            {"tenant_id": TENANT, "users": [{"username": "a@x.example", "name": "A", "groups": [GROUP]}]},
            f"dir.yaml: users[0].groups[0]: unknown group {GROUP}. Fix: define it under groups:",
        ),
        (
            {
                "tenant_id": TENANT,
                "users": [{"username": "a@x.example", "name": "A"}, {"username": "A@x.example", "name": "B"}],
            },
            "dir.yaml: users[1].username: duplicate username A@x.example. Fix: list each person once",
        ),
        (
            {"tenant_id": TENANT, "users": [{"username": "a@x.example", "name": "A", "overage_style": "both"}]},
            "dir.yaml: users[0].overage_style: unknown style 'both'. Fix: use one of ('claim_sources', 'hasgroups')",
        ),
        (
            {"tenant_id": TENANT, "users": [{"username": "a@x.example", "name": "A", "filler_groups": -1}]},
            "dir.yaml: users[0].filler_groups: -1 is not a count. Fix: use a whole number 0-5000",
        ),
        (
            {"tenant_id": TENANT, "groups": [{"id": GROUP, "display_name": "A"}, {"id": GROUP, "display_name": "B"}]},
            f"dir.yaml: groups[1].id: duplicate group id {GROUP}. Fix: give every group its own id",
        ),
    ],
    ids=[
        "tenant",
        "unknown-key",
        "username",
        "unknown-group",
        "duplicate-user",
        "overage-style",
        "filler",
        "dup-group",
    ],
)
def test_bad_directories_are_refused_naming_key_and_fix(data, message):
    with pytest.raises(DirectoryError) as refused:
        parse_directory(data, source="dir.yaml")
    assert str(refused.value) == message


# ---- groups in the id_token -------------------------------------------------------------------------------------


def test_up_to_200_groups_go_into_the_token():
    d = directory({"username": "a@x.example", "name": "A", "groups": [GROUP], "filler_groups": 199})
    claims = group_claims(d, d.person("a@x.example"))
    assert len(claims["groups"]) == 200 and set(claims) == {"groups"}


def test_overage_points_at_the_legacy_graph_endpoint():
    d = directory({"username": "a@x.example", "name": "A", "groups": [GROUP], "filler_groups": 200})
    person = d.person("a@x.example")
    assert group_claims(d, person) == {
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": f"https://graph.windows.net/{TENANT}/users/{person.oid}/getMemberObjects"}
        },
    }


def test_overage_style_hasgroups():
    d = directory({"username": "a@x.example", "name": "A", "filler_groups": 201, "overage_style": "hasgroups"})
    assert group_claims(d, d.person("a@x.example")) == {"hasgroups": True}


# ---- grants -----------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


REQUEST = AuthorizeRequest("client", "https://hub.test/cb", ("openid",), "state", "nonce", "x" * 43)


def test_codes_expire_after_ten_minutes():
    clock = Clock()
    grants = Grants(clock)
    fresh, stale = grants.issue_code(REQUEST, "ana", "s1"), grants.issue_code(REQUEST, "ana", "s2")
    clock.now += CODE_LIFETIME_SECONDS - 1
    assert grants.redeem_code(fresh).username == "ana"
    clock.now += 1
    with pytest.raises(GrantError) as refused:
        grants.redeem_code(stale)
    assert refused.value.reason == "expired"


def test_codes_are_single_use():
    grants = Grants(Clock())
    code = grants.issue_code(REQUEST, "ana", "s1")
    grants.redeem_code(code)
    with pytest.raises(GrantError, match="redeemed"):
        grants.redeem_code(code)
    with pytest.raises(GrantError, match="unknown"):
        grants.redeem_code("guess")


def test_refresh_tokens_rotate_and_can_be_revoked():
    grants = Grants(Clock())
    first = grants.issue_refresh_token("client", "ana", ("openid",), "s1")
    grants.redeem_refresh_token(first)
    with pytest.raises(GrantError, match="revoked"):
        grants.redeem_refresh_token(first)
    second = grants.issue_refresh_token("client", "ana", ("openid",), "s1")
    assert grants.revoke_sessions("ANA") == 1
    with pytest.raises(GrantError, match="revoked"):
        grants.redeem_refresh_token(second)


def test_login_forms_expire():
    clock = Clock()
    grants = Grants(clock)
    context = grants.begin_sign_in(REQUEST)
    assert grants.sign_in(context) == REQUEST
    clock.now += 1800
    assert grants.sign_in(context) is None


# ---- tamper requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"alg": "RS512"}, "alg must be one of none, HS256-with-public-key, foreign-key (got 'RS512')"),
        ({"count": 0}, "count must be a whole number of id_tokens, at least 1"),
        ({"drop": "nonce"}, "drop must be a list of claim names"),
        ({"claims": []}, "claims and header must be JSON objects"),
        ({"kid": "x"}, "unknown field 'kid': use alg, claims, drop, header, count"),
    ],
)
def test_tamper_requests_are_checked(body, message):
    with pytest.raises(TamperError) as refused:
        Tamper.from_json(body)
    assert str(refused.value) == message
