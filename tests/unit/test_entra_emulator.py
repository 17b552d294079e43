"""The emulator's pure parts: the directory file, group claims and overage, grant lifetimes, tamper requests."""

import uuid

import pytest

from entra_emulator.directory import DirectoryError, default_oid, guest_mail, load_directory, parse_directory
from entra_emulator.grants import CODE_LIFETIME_SECONDS, AuthorizeRequest, GrantError, Grants
from entra_emulator.tokens import Tamper, TamperError, group_claims, id_token_claims, optional_claims
from tests.fixtures.emulator import DEMO_DIRECTORY

pytestmark = pytest.mark.unit

TENANT = "05635727-18e2-4663-9497-cc4ac795197b"
GROUP = "253daff1-76ee-47b8-9495-b4b707cbf668"


M365_GROUP = "9306ac88-e3c4-44f6-b39e-56336c2ebbf2"
GROUPS = [
    {"id": GROUP, "display_name": "Analysts"},
    {"id": M365_GROUP, "display_name": "Project Falcon", "type": "microsoft365"},
]


def directory(*users, groups=None, app=None):
    """A directory with these people; its app registration emits security groups unless ``app`` says otherwise."""
    return parse_directory(
        {
            "tenant_id": TENANT,
            "app_registration": {"group_membership_claims": "SecurityGroup"} if app is None else app,
            "groups": GROUPS if groups is None else groups,
            "users": list(users),
        },
        source="dir.yaml",
    )


# ---- the directory file -------------------------------------------------------------------------------------------


def test_demo_directory_has_the_demo_people():
    demo = load_directory(DEMO_DIRECTORY)
    assert demo.display_name == "Contoso"
    assert demo.app_registration.group_membership_claims == "SecurityGroup"
    assert demo.app_registration.graph_permissions == ["GroupMember.Read.All", "User.ReadBasic.All"]
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
            "Fix: use only app_registration, display_name, groups, tenant_id, users (see the README)",
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


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            {"group_membership_claims": "DirectoryRole"},
            "dir.yaml: app_registration.group_membership_claims: unknown value 'DirectoryRole'. "
            "Fix: use one of None, SecurityGroup, ApplicationGroup, All",
        ),
        (
            {"graph_permissions": ["Mail.Read"]},
            "dir.yaml: app_registration.graph_permissions: ['Mail.Read'] is not a list of known permissions. Fix: use "
            "names from User.Read.All, User.ReadBasic.All, User.ReadWrite.All, GroupMember.Read.All, Group.Read.All, "
            "Directory.Read.All, Directory.ReadWrite.All",
        ),
        (
            {"optional_claims": ["ctry"]},
            "dir.yaml: app_registration.optional_claims[0]: 'ctry' is not an optional claim the emulator models. "
            "Fix: use one of acct, upn, login_hint, email",
        ),
        (
            {"optional_claims": [{"name": "acct", "additional_properties": ["include_externally_authenticated_upn"]}]},
            "dir.yaml: app_registration.optional_claims[0].additional_properties: "
            "['include_externally_authenticated_upn'] is not modelled. "
            "Fix: only upn takes [include_externally_authenticated_upn]",
        ),
        (
            {"assigned_groups": ["11111111-2222-4333-8444-555555555555"]},
            "dir.yaml: app_registration.assigned_groups[0]: unknown group 11111111-2222-4333-8444-555555555555. "
            "Fix: define it under groups:",
        ),
        (
            {"scopes": []},
            "dir.yaml: app_registration: unknown key 'scopes'. Fix: use only assigned_groups, graph_permissions, "
            "group_membership_claims, optional_claims (see the README)",
        ),
    ],
    ids=["directory-role", "permission", "optional-claim", "additional-property", "assigned-group", "unknown-key"],
)
def test_bad_app_registrations_are_refused_naming_key_and_fix(app, message):
    with pytest.raises(DirectoryError) as refused:
        directory(app=app)
    assert str(refused.value) == message


def test_a_new_app_registration_has_no_group_claims_no_optional_claims_and_no_graph_permissions():
    d = parse_directory({"tenant_id": TENANT, "users": [{"username": "a@x.example", "name": "A"}]})
    app = d.app_registration
    assert (app.group_membership_claims, app.optional_claims, app.graph_permissions) == ("None", {}, [])
    assert group_claims(d, d.person("a@x.example")) == {}


def test_guest_fields_are_for_guests_only():
    with pytest.raises(DirectoryError) as refused:
        directory({"username": "a@x.example", "name": "A", "mail": "a@y.example"})
    assert str(refused.value) == "dir.yaml: users[0].mail: is for guests only. Fix: leave it out for members"


# ---- guests ---------------------------------------------------------------------------------------------------------

GUEST = {"username": "gus_fabrikam.example#EXT#@contoso.example", "name": "Gus"}


def test_a_guests_address_comes_from_the_upn_and_they_sign_in_with_it():
    assert guest_mail("gus_fabrikam.example#EXT#@contoso.example") == "gus@fabrikam.example"
    assert guest_mail("first_last_fabrikam.example#EXT#@contoso.example") == "first_last@fabrikam.example"
    d = directory(GUEST)
    gus = d.person("gus@fabrikam.example")
    assert gus is d.person("GUS_fabrikam.example#ext#@contoso.example")
    assert (gus.is_guest, gus.mail, gus.sign_in_name) == (True, "gus@fabrikam.example", "gus@fabrikam.example")


def test_id_token_of_a_guest_has_the_home_address_and_idp_never_the_ext_upn():
    # ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (preferred_username, idp)
    d = directory(GUEST, {"username": "ana@contoso.example", "name": "Ana"})
    gus, ana = d.person("gus@fabrikam.example"), d.person("ana@contoso.example")
    claims = id_token_claims(
        issuer="https://e/t/v2.0", client_id="c", directory=d, person=gus, nonce=None, session_id="s", now=0
    )
    assert claims["preferred_username"] == "gus@fabrikam.example" and claims["email"] == "gus@fabrikam.example"
    assert claims["idp"] == f"https://sts.windows.net/{gus.home_tenant_id}/" and claims["tid"] == TENANT
    assert "#EXT#" not in str(claims).upper() and "upn" not in claims and "acct" not in claims
    member = id_token_claims(
        issuer="https://e/t/v2.0", client_id="c", directory=d, person=ana, nonce=None, session_id="s", now=0
    )
    assert member["preferred_username"] == "ana@contoso.example" and "idp" not in member and "email" not in member


@pytest.mark.parametrize(
    ("wanted", "guest", "member"),
    [
        (["acct"], {"acct": 1}, {"acct": 0}),
        (["upn"], {"upn": "gus@fabrikam.example"}, {"upn": "ana@contoso.example"}),
        (
            [{"name": "upn", "additional_properties": ["include_externally_authenticated_upn"]}],
            {"upn": "gus_fabrikam.example#EXT#@contoso.example"},
            {"upn": "ana@contoso.example"},
        ),
        (["email"], {"email": "gus@fabrikam.example"}, {}),
    ],
    ids=["acct", "upn", "upn-external", "email"],
)
def test_optional_claims_as_the_reference_describes(wanted, guest, member):
    # ref: https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
    d = directory(GUEST, {"username": "ana@contoso.example", "name": "Ana"}, app={"optional_claims": wanted})
    assert optional_claims(d, d.person("gus@fabrikam.example")) == guest
    assert optional_claims(d, d.person("ana@contoso.example")) == member


# ---- group claims follow groupMembershipClaims -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "assigned", "expected"),
    [
        ("None", [], {}),
        ("SecurityGroup", [], {"groups": [GROUP]}),
        ("All", [], {"groups": [GROUP, M365_GROUP]}),
        ("ApplicationGroup", [M365_GROUP], {"groups": [M365_GROUP]}),
    ],
)
def test_the_groups_claim_follows_group_membership_claims(setting, assigned, expected):
    # ref: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-group-claims
    app = {"group_membership_claims": setting, "assigned_groups": assigned}
    d = directory({"username": "a@x.example", "name": "A", "groups": [GROUP, M365_GROUP]}, app=app)
    assert group_claims(d, d.person("a@x.example")) == expected


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
    fresh, stale = grants.issue_code(REQUEST, "oid-ana", "s1"), grants.issue_code(REQUEST, "oid-ana", "s2")
    clock.now += CODE_LIFETIME_SECONDS - 1
    assert grants.redeem_code(fresh).oid == "oid-ana"
    clock.now += 1
    with pytest.raises(GrantError) as refused:
        grants.redeem_code(stale)
    assert refused.value.reason == "expired"


def test_codes_are_single_use():
    grants = Grants(Clock())
    code = grants.issue_code(REQUEST, "oid-ana", "s1")
    grants.redeem_code(code)
    with pytest.raises(GrantError, match="redeemed"):
        grants.redeem_code(code)
    with pytest.raises(GrantError, match="unknown"):
        grants.redeem_code("guess")


def test_refresh_tokens_stay_valid_when_used_until_revoked():
    # ref: https://learn.microsoft.com/entra/identity-platform/refresh-tokens ("doesn't revoke old refresh tokens")
    grants = Grants(Clock())
    first = grants.issue_refresh_token("client", "oid-ana", ("openid",), "s1")
    grants.redeem_refresh_token(first)
    assert grants.redeem_refresh_token(first).oid == "oid-ana"
    second = grants.issue_refresh_token("client", "oid-ana", ("openid",), "s1")
    grants.issue_refresh_token("client", "oid-sam", ("openid",), "s2")
    assert grants.revoke_sessions("oid-ana") == 2
    for token in (first, second):
        with pytest.raises(GrantError, match="revoked"):
            grants.redeem_refresh_token(token)


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
