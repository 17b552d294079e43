"""Sign-in through a real JupyterHub with the real EntraIDOAuthenticator against the Entra ID emulator.

Every refusal asserts what the person sees, what the log says, and that nothing was created or changed.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures.jupyterhub import EntraSignIn, sign_in_through_entra
from tests.fixtures.servers import REPO

pytestmark = pytest.mark.integration

ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"
SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"
GUEST_UPN = "gus_fabrikam.example#EXT#@contoso.example"  # the guest's UPN here (Graph, the admin command)
GUEST_ADDRESS = "gus@fabrikam.example"  # what the guest signs in with: their preferred_username
GUEST_NAME = "gus_fabrikam.example-guest"
ARN = "arn:aws:iam::123456789012:role/"
SIGN_IN_FAILED = "Sign-in failed: Microsoft Entra ID&#39;s answer could not be verified."


@pytest.fixture
def emulator(entra_emulator_reset):
    return entra_emulator_reset


@pytest.fixture
def fresh(entra_hub):
    """Forget the demo people before a test, so that 'nothing was created' can be asserted."""
    for name in ("ana", "sam", "alex", "noah", "olga", GUEST_NAME, "ana.analyst"):
        if entra_hub.api_request("GET", f"/users/{name}").status_code == 200:
            entra_hub.stop_server(name)
            entra_hub.api_request("DELETE", f"/users/{name}")
    return entra_hub


def user_model(hub, name):
    response = hub.api_request("GET", f"/users/{name}")
    return response.json() if response.status_code == 200 else None


def auth_state(hub, name):
    return hub.api_request("GET", f"/users/{name}").json()["auth_state"]


def roles_of(state):
    return [r["role_arn"] for r in state["eligible_roles"]]


# ---- decisions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "hub_name", "groups", "roles"),
    [
        ("ana@contoso.example", "ana", ["analysts"], [ARN + "jupyterhub-analyst"]),
        (
            "sam@contoso.example",
            "sam",
            ["analysts", "data-engineers"],
            [ARN + "jupyterhub-analyst", ARN + "jupyterhub-data-engineer"],
        ),
        # a hub admin: the hub-admin role comes with the platform-admins group (tests/integration/test_hub_admins.py)
        ("alex@contoso.example", "alex", ["platform-admins"], [ARN + "jupyterhub-platform-admin"]),
        (GUEST_ADDRESS, GUEST_NAME, ["analysts"], [ARN + "jupyterhub-analyst"]),
    ],
)
def test_sign_in_decides_roles_and_groups(fresh, emulator, username, hub_name, groups, roles):
    attempt = sign_in_through_entra(fresh, emulator, username)
    authorize = parse_qs(urlsplit(attempt.authorize_url).query)
    assert urlsplit(attempt.authorize_url).path == f"/{emulator.tenant_id}/oauth2/v2.0/authorize"  # from discovery
    assert authorize["code_challenge_method"] == ["S256"] and authorize["nonce"][0]
    user = user_model(fresh, hub_name)
    assert user["admin"] is False  # nobody holds JupyterHub's built-in admin role
    assert sorted(user["groups"]) == groups
    state = user["auth_state"]
    assert roles_of(state) == roles
    assert uuid.UUID(state["entra"]["oid"]) and state["entra"]["tid"] == emulator.tenant_id
    assert "groups" not in state["user"]  # the raw group list is not kept


def test_group_overage_is_resolved_through_graph(fresh, emulator):
    before = emulator.stats()
    sign_in_through_entra(fresh, emulator, "olga@contoso.example")
    assert roles_of(auth_state(fresh, "olga")) == [ARN + "jupyterhub-data-engineer"]
    after = emulator.stats()
    assert _graph_calls(after) - _graph_calls(before) >= 1  # 251 groups: transitiveMemberOf, with MSAL's app token


# ---- one source of group truth: Microsoft Graph, at sign-in and at every re-check ------------------------------


def test_the_tokens_groups_claim_grants_nothing_graph_decides(fresh, emulator):
    emulator.tamper(claims={"groups": [ANALYSTS, ENGINEERS]})  # more than Graph says ana is in
    before = _graph_calls(emulator.stats())
    sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    assert roles_of(auth_state(fresh, "ana")) == [ARN + "jupyterhub-analyst"]
    assert _graph_calls(emulator.stats()) > before


def test_a_group_the_token_leaves_out_counts_at_sign_in_as_at_re_checks(fresh, emulator):
    # groupMembershipClaims ApplicationGroup with no group assigned: the token's groups claim is empty, as a real
    # registration set up so would send; Graph has ana in Analysts.
    emulator.set_app_registration(group_membership_claims="ApplicationGroup", assigned_groups=[])
    browser = sign_in_through_entra(fresh, emulator, "ana@contoso.example").browser
    at_sign_in = roles_of(auth_state(fresh, "ana"))
    time.sleep(1.2)  # auth_refresh_age is 1 s in this hub: the next request re-checks with Graph
    assert browser.get(f"{fresh.url}/hub/home", allow_redirects=False, timeout=30).status_code == 200
    assert at_sign_in == roles_of(auth_state(fresh, "ana")) == [ARN + "jupyterhub-analyst"]


# ---- Microsoft Graph throttling (the permissions: test_membership_refresh.py, with a fresh application token) ------


def test_a_throttled_graph_is_retried_after_retry_after(fresh, emulator):
    emulator.throttle(1, retry_after=1)
    before = _graph_calls(emulator.stats())
    attempt = sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    assert roles_of(auth_state(fresh, "ana")) == [ARN + "jupyterhub-analyst"]
    assert _graph_calls(emulator.stats()) - before == 2  # the 429, then the answer
    assert attempt.seconds >= 1  # it waited as Retry-After said


def test_graph_throttling_past_the_budget_is_a_clear_503_in_bounded_time(fresh, emulator):
    emulator.throttle(100, retry_after=30)  # longer than the hub's retry budget (10 s): no point waiting
    attempt = EntraSignIn(fresh, emulator, "ana@contoso.example")
    response = attempt.finish()
    assert response.status_code == 503
    assert (
        "Sign-in is unavailable right now: Microsoft Graph is throttling the hub&#39;s requests. Try again in a minute"
        in response.text
    )
    assert attempt.seconds < 5
    assert user_model(fresh, "ana") is None


def _graph_calls(stats) -> int:
    return stats["requests"]["graph"]


def test_person_in_no_mapped_group_is_refused_with_the_groups_that_grant_access(fresh, emulator):
    attempt = EntraSignIn(fresh, emulator, "noah@contoso.example")
    response = attempt.finish()
    assert response.status_code == 403
    assert "You have no access to this hub: you are not in any of the Entra ID groups that grant it." in response.text
    assert f"Analysts ({ANALYSTS})" in response.text and f"Data Engineers ({ENGINEERS})" in response.text
    assert user_model(fresh, "noah") is None
    assert "Refused sign-in of noah: in no access group of the access policy" in fresh.log()


# ---- forged and misdirected tokens ----------------------------------------------------------------------------------

FORGERIES = [
    ({"alg": "none"}, "the id_token is signed with algorithm 'none'; only RS256 is accepted"),
    ({"alg": "HS256-with-public-key"}, "the id_token is signed with algorithm 'HS256'; only RS256 is accepted"),
    ({"alg": "foreign-key"}, "the id_token's signature does not verify with the tenant's key"),
    (
        {"alg": "foreign-key", "header": {"kid": "attacker-key"}},
        "the id_token's signing key (kid) is not in the tenant's published keys",
    ),
    ({"claims": {"iss": "https://login.evil.example/x/v2.0"}}, "the id_token was issued by another authority (iss)"),
    ({"claims": {"tid": "99999999-0000-4000-8000-000000000000"}}, "the id_token was issued for another tenant (tid)"),
    (
        {"claims": {"aud": "00000000-0000-4000-8000-000000000000"}},
        "the id_token was issued for another application (aud)",
    ),
    ({"claims": {"exp": 1_000_000_000, "iat": 999_990_000, "nbf": 999_990_000}}, "the id_token has expired"),
    ({"claims": {"nbf": 4_000_000_000}}, "the id_token is not valid yet (nbf or iat in the future)"),
    ({"claims": {"nonce": "another-attempt"}}, "the id_token's nonce does not match this sign-in attempt"),
    ({"drop": ["nonce"]}, "the id_token's nonce does not match this sign-in attempt"),
]


@pytest.mark.parametrize(("tamper", "reason"), FORGERIES, ids=[r for _, r in FORGERIES])
def test_forged_or_misdirected_id_tokens_are_refused(fresh, emulator, tamper, reason):
    emulator.tamper(**tamper)
    log_before = len(fresh.log())
    response = EntraSignIn(fresh, emulator, "ana@contoso.example").finish()
    assert response.status_code == 403
    assert SIGN_IN_FAILED in response.text
    log = fresh.log()[log_before:]
    assert f"Refused sign-in: {reason}" in log
    assert not re.search(r"eyJ[\w-]+\.eyJ", log)  # no token in the log
    assert user_model(fresh, "ana") is None  # no user, group or auth_state created


def test_replayed_code_is_refused_and_changes_nothing(fresh, emulator):
    attempt = sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    state_before = auth_state(fresh, "ana")
    replay = requests.Session()
    replay.trust_env = False
    replay.cookies.update(attempt.state_cookie)  # even with the state cookie the attacker would need
    response = replay.get(attempt.callback_url, allow_redirects=False, timeout=30)
    assert response.status_code == 403
    assert "did not accept the sign-in (the link may have been used already or have expired)" in response.text
    assert auth_state(fresh, "ana") == state_before


def test_slow_identity_provider_gives_a_clear_error_in_bounded_time(fresh, emulator):
    attempt = EntraSignIn(fresh, emulator, "ana@contoso.example")
    emulator.delay(8, paths=["token"])
    response = attempt.finish()
    assert response.status_code == 503
    assert "Sign-in is unavailable right now: Microsoft Entra ID did not answer in time." in response.text
    assert attempt.seconds < 7  # the hub's timeout (3 s in this hub) bounds the wait, not the provider
    assert user_model(fresh, "ana") is None


# ---- while people work ----------------------------------------------------------------------------------------------


def test_group_removal_is_seen_by_refresh_without_a_new_login(fresh, emulator):
    attempt = sign_in_through_entra(fresh, emulator, "sam@contoso.example")
    browser = attempt.browser
    assert len(auth_state(fresh, "sam")["eligible_roles"]) == 2

    emulator.set_groups("sam@contoso.example", [ANALYSTS])
    time.sleep(1.2)  # auth_refresh_age is 1 s in this hub
    assert browser.get(f"{fresh.url}/hub/home", allow_redirects=False, timeout=30).status_code == 200
    assert roles_of(auth_state(fresh, "sam")) == [ARN + "jupyterhub-analyst"]
    assert user_model(fresh, "sam")["groups"] == ["analysts"]

    emulator.set_groups("sam@contoso.example", [SALES])
    time.sleep(1.2)
    signed_out = browser.get(f"{fresh.url}/hub/home", allow_redirects=False, timeout=30)
    assert signed_out.status_code == 302 and "/hub/login" in signed_out.headers["Location"]
    assert "Signing sam out: no longer in any access group" in fresh.log()


def test_unsafe_username_becomes_the_safe_name_everywhere(fresh, emulator):
    emulator.tamper(claims={"preferred_username": "Zoë/../Admin@contoso.example"})
    sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    assert user_model(fresh, "zo-.-admin--88327c4d")["groups"] == ["analysts"]
    fresh.api_request("DELETE", "/users/zo-.-admin--88327c4d")


def test_a_renamed_person_keeps_their_account_and_s3_home(fresh, emulator):
    sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    oid = auth_state(fresh, "ana")["entra"]["oid"]
    emulator.rename("ana@contoso.example", "ana.analyst@contoso.example")
    browser = sign_in_through_entra(fresh, emulator, "ana.analyst@contoso.example").browser
    assert user_model(fresh, "ana.analyst") is None  # no new, empty account
    state = auth_state(fresh, "ana")
    assert state["entra"]["oid"] == oid and state["user"]["preferred_username"] == "ana.analyst@contoso.example"
    assert browser.get(f"{fresh.url}/hub/api/user", timeout=30).json()["name"] == "ana"
    words = _words(browser.get(f"{fresh.url}/services/aws-credentials/access", timeout=30).text)
    assert "reaches s3://demo-jupyter-notebooks/home/ana/ (read-write), your own notebooks" in words
    assert "ana.analyst signs in to their account ana (found by object id)" in fresh.log()


def test_a_guest_has_one_name_and_home_in_the_hub_the_access_page_and_the_admin_command(fresh, emulator):
    browser = sign_in_through_entra(fresh, emulator, GUEST_ADDRESS).browser
    assert browser.get(f"{fresh.url}/hub/api/user", timeout=30).json()["name"] == GUEST_NAME
    words = _words(browser.get(f"{fresh.url}/services/aws-credentials/access", timeout=30).text)
    assert f"reaches s3://demo-jupyter-notebooks/home/{GUEST_NAME}/ (read-write), your own notebooks" in words
    args = ["--tenant-id", emulator.tenant_id, "--client-id", emulator.client_id, "--authority", emulator.url]
    args += ["--graph-url", emulator.graph_url, "--ca-bundle", emulator.ca_path, "--strip-domain", "contoso.example"]
    env = {**os.environ, "OAUTH_CLIENT_SECRET": emulator.client_secret}
    policy = str(REPO / "hub" / "demo" / "access-policy.yaml")
    command = [sys.executable, "-m", "authenticator.explain", "explain", "--policy", policy, "--user", GUEST_UPN]
    result = subprocess.run([*command, *args, "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["username"] == GUEST_NAME
    assert answer["home"] == [
        {"bucket": "demo-jupyter-notebooks", "prefix": f"home/{GUEST_NAME}/", "access": "read-write"}
    ]


def _words(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_an_account_stays_bound_to_its_entra_identity(fresh, emulator):
    """A re-assigned user principal name must not inherit the former owner's account and S3 home."""
    sign_in_through_entra(fresh, emulator, "ana@contoso.example")
    state_before = auth_state(fresh, "ana")
    # Ana leaves and her user principal name goes to someone else (another object id).
    emulator.rename("ana@contoso.example", "ana.former@contoso.example")
    emulator.rename("sam@contoso.example", "ana@contoso.example")
    response = EntraSignIn(fresh, emulator, "ana@contoso.example").finish()
    assert response.status_code == 403
    assert "Sign-in refused: the hub account &#39;ana&#39; belongs to a different Entra ID identity." in response.text
    assert auth_state(fresh, "ana") == state_before


def test_an_account_bound_to_no_identity_is_not_taken_over_by_whoever_has_its_name(fresh, emulator):
    """An account made by hand (or whose auth_state could not be decrypted) fails closed, naming how to adopt it."""
    assert fresh.api_request("POST", "/users/ana").status_code == 201  # no auth_state: bound to no one
    response = EntraSignIn(fresh, emulator, "ana@contoso.example").finish()
    assert response.status_code == 403
    refusal = re.search(
        r"Sign-in refused: the hub account &#39;ana&#39; is not bound to an Entra ID identity yet, so it is not given "
        r"to anyone automatically. Ask a hub administrator to adopt it for you: EntraIDOAuthenticator.adopt_accounts "
        r"= \{&#39;ana&#39;: &#39;([0-9a-f-]{36})&#39;\} in the hub config \(your Entra object id\), or to delete the "
        r"account if it is not yours.",
        response.text,
    )
    assert refusal and uuid.UUID(refusal.group(1))
    assert user_model(fresh, "ana")["auth_state"] is None  # not bound, nothing written
    assert "Refused sign-in of ana: the account is bound to no Entra identity and not adopted" in fresh.log()


def test_a_refused_sign_in_logs_no_code_or_state_and_a_reload_says_what_to_do(fresh, emulator):
    attempt = EntraSignIn(fresh, emulator, "noah@contoso.example")
    query = parse_qs(urlsplit(attempt.callback_url).query)
    log_before = len(fresh.log())
    assert attempt.finish().status_code == 403
    log = fresh.log()[log_before:]
    assert "403 GET /hub/oauth_callback (127.0.0.1): You have no access to this hub" in log
    assert query["code"][0] not in log and query["state"][0] not in log

    reloaded = attempt.browser.get(attempt.callback_url, allow_redirects=False, timeout=30)
    assert reloaded.status_code == 400
    assert (
        "This sign-in is over: its page was reloaded or its link opened again, and a sign-in link works once."
        in reloaded.text
    )
    assert "OAuth state missing" not in reloaded.text
    assert query["code"][0] not in fresh.log()[log_before:]
    assert user_model(fresh, "noah") is None


def test_signing_out_ends_the_entra_session_and_returns_to_the_hub(fresh, emulator):
    browser = sign_in_through_entra(fresh, emulator, "ana@contoso.example").browser
    logout = browser.get(f"{fresh.url}/hub/logout", allow_redirects=False, timeout=30)
    assert logout.status_code == 302
    end_session = urlsplit(logout.headers["Location"])
    assert end_session.path == f"/{emulator.tenant_id}/oauth2/v2.0/logout"
    assert parse_qs(end_session.query)["post_logout_redirect_uri"] == [f"{fresh.url}/hub/login"]
    back = browser.get(logout.headers["Location"], allow_redirects=False, timeout=30)
    assert back.headers["Location"] == f"{fresh.url}/hub/login"
    assert browser.get(f"{fresh.url}/hub/home", allow_redirects=False, timeout=30).status_code == 302  # signed out
