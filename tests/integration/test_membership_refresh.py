"""refresh_user against the real emulator: expired tokens are refreshed (with or without an id_token in the answer),
failures fail closed, Graph outages and throttling are bounded by the grace period, a missing Graph permission is
named, and an unreachable identity provider gives a clear error quickly."""

import logging
import time

import pytest
from tornado import web
from traitlets.config import Config

from authenticator.entra import EntraIDOAuthenticator
from tests.fixtures.servers import REPO, free_port

pytestmark = pytest.mark.integration

POLICY = str(REPO / "hub" / "demo" / "access-policy.yaml")
ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"


class SignedInUser:
    """What JupyterHub hands refresh_user: a name and the stored auth_state."""

    def __init__(self, name, auth_state):
        self.name, self.auth_state = name, auth_state

    async def get_auth_state(self):
        return self.auth_state


def policy_config() -> Config:
    config = Config()
    config.AccessPolicyFile.path = str(POLICY)
    return config


@pytest.fixture
def authenticator(entra_emulator_reset, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "00" * 32)
    emulator = entra_emulator_reset
    return EntraIDOAuthenticator(
        tenant_id=emulator.tenant_id,
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        authority=emulator.url,
        microsoft_graph_url=emulator.graph_url,
        tls_ca_bundle=emulator.ca_path,
        config=policy_config(),
        username_strip_domains=["contoso.example"],
        http_timeout_seconds=2,
    )


async def signed_in(authenticator, emulator, username):
    """A person signed in for real (authorization code + PKCE), as the hub stores them."""
    code = emulator.sign_in(username)
    response = emulator.redeem(code)
    assert response.status_code == 200, response.text
    token_info = {**response.json(), "obtained_at": int(time.time())}
    claims = await authenticator.token_to_user(token_info)
    auth_state = authenticator.build_auth_state_dict(token_info, claims)
    model = await authenticator.update_auth_model({"name": "ana", "admin": None, "auth_state": auth_state})
    return SignedInUser(model["name"], model["auth_state"])


async def test_expired_tokens_are_refreshed_with_the_refresh_token(authenticator, entra_emulator_reset):
    user = await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    old_access, old_refresh = user.auth_state["access_token"], user.auth_state["refresh_token"]
    user.auth_state["entra"]["tokens_expire_at"] = 0

    model = await authenticator.refresh_user(user)

    state = model["auth_state"]
    assert state["access_token"] != old_access and state["refresh_token"] != old_refresh  # rotated
    assert state["entra"]["tokens_expire_at"] > time.time() + 600
    assert [r["access_group"] for r in state["eligible_roles"]] == ["analysts"]
    assert entra_emulator_reset.stats()["grants"]["refresh_token"] == 1
    # The scopes went with the refresh grant, so Entra sent an id_token, which was verified (same oid).
    assert entra_emulator_reset.stats()["id_tokens_issued"] == 2


async def test_a_refresh_answer_without_an_id_token_keeps_the_identity(authenticator, entra_emulator_reset):
    user = await signed_in(authenticator, entra_emulator_reset, "sam@contoso.example")
    identity = (user.auth_state["entra"]["oid"], user.auth_state["user"])
    entra_emulator_reset.set_modes(id_token_on_refresh=False)
    entra_emulator_reset.set_groups("sam@contoso.example", [ANALYSTS])
    user.auth_state["entra"]["tokens_expire_at"] = 0

    model = await authenticator.refresh_user(user)

    state = model["auth_state"]
    assert (state["entra"]["oid"], state["user"]) == identity
    assert state["entra"]["tokens_expire_at"] > time.time() + 600
    assert [r["access_group"] for r in state["eligible_roles"]] == ["analysts"]  # from Graph
    assert entra_emulator_reset.stats()["id_tokens_issued"] == 1  # only the sign-in's


@pytest.mark.parametrize(
    ("granted", "missing"),
    [([], "GroupMember.Read.All"), (["User.ReadBasic.All"], "GroupMember.Read.All")],
    ids=["none", "user-lookup-only"],
)
async def test_sign_in_without_the_membership_permission_names_it(
    authenticator, entra_emulator_reset, caplog, granted, missing
):
    entra_emulator_reset.set_app_registration(graph_permissions=granted)
    with pytest.raises(web.HTTPError) as refused:
        await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    assert refused.value.status_code == 503
    assert refused.value.log_message == (
        "Sign-in is unavailable: the hub may not read group memberships from Microsoft Graph (its app registration "
        f"lacks the application permission {missing}). Tell your administrator."
    )
    assert (
        f"Microsoft Graph refused to read group memberships: the app registration lacks the application permission "
        f"{missing}. Add it under API permissions (Microsoft Graph, Application) and grant admin consent"
    ) in caplog.text


async def test_a_re_check_without_the_membership_permission_keeps_roles_only_within_the_grace_period(
    authenticator, entra_emulator_reset, caplog
):
    user = await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    entra_emulator_reset.set_app_registration(graph_permissions=["User.ReadBasic.All"])
    authenticator._graph = None  # a new application token, with what the app is granted now
    assert await authenticator.refresh_user(user) is True
    assert "Keeping ana's roles for now: Graph unavailable (GraphPermissionError)" in caplog.text
    user.auth_state["entra"]["groups_checked_at"] = time.time() - authenticator.membership_grace_seconds - 1
    assert await authenticator.refresh_user(user) is False


async def test_throttled_re_checks_wait_for_retry_after_then_fall_back_to_the_grace_period(
    authenticator, entra_emulator_reset, caplog
):
    user = await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    entra_emulator_reset.throttle(2, retry_after=1)
    started = time.monotonic()
    model = await authenticator.refresh_user(user)
    assert [r["access_group"] for r in model["auth_state"]["eligible_roles"]] == ["analysts"]
    assert time.monotonic() - started >= 2  # waited twice as Retry-After said
    authenticator.graph_retry_budget_seconds = 2
    authenticator._graph = None
    entra_emulator_reset.throttle(100, retry_after=5)  # past the budget
    started = time.monotonic()
    assert await authenticator.refresh_user(user) is True  # checked moments ago: keep working
    assert time.monotonic() - started < 2
    assert "Keeping ana's roles for now: Graph unavailable (GraphThrottled)" in caplog.text
    user.auth_state["entra"]["groups_checked_at"] = time.time() - authenticator.membership_grace_seconds - 1
    assert await authenticator.refresh_user(user) is False


async def test_a_refresh_that_fails_signs_the_person_out(authenticator, entra_emulator_reset, caplog):
    caplog.set_level(logging.INFO)
    user = await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    entra_emulator_reset.revoke_sessions("ana@contoso.example")
    user.auth_state["entra"]["tokens_expire_at"] = 0

    assert await authenticator.refresh_user(user) is False
    assert "Signing ana out: tokens could not be refreshed (403)" in caplog.text


async def test_membership_changes_are_read_from_graph(authenticator, entra_emulator_reset):
    user = await signed_in(authenticator, entra_emulator_reset, "sam@contoso.example")
    assert len(user.auth_state["eligible_roles"]) == 2
    entra_emulator_reset.set_groups("sam@contoso.example", [ANALYSTS])

    model = await authenticator.refresh_user(user)

    assert [r["access_group"] for r in model["auth_state"]["eligible_roles"]] == ["analysts"]
    assert model["groups"] == ["analysts"] and model["admin"] is False


async def test_graph_outage_keeps_roles_only_within_the_grace_period(authenticator, entra_emulator_reset, caplog):
    user = await signed_in(authenticator, entra_emulator_reset, "ana@contoso.example")
    entra_emulator_reset.delay(5, paths=["graph"])

    started = time.monotonic()
    assert await authenticator.refresh_user(user) is True  # checked moments ago: keep working
    assert time.monotonic() - started < 4.5  # bounded by http_timeout_seconds, not by Graph
    assert "Keeping ana's roles for now: Graph unavailable" in caplog.text

    user.auth_state["entra"]["groups_checked_at"] = time.time() - authenticator.membership_grace_seconds - 1
    assert await authenticator.refresh_user(user) is False  # too long unverified: fail closed
    assert "Signing ana out: groups unverifiable" in caplog.text


async def test_identity_provider_down_is_a_clear_error_within_bounded_time(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "00" * 32)
    down = EntraIDOAuthenticator(
        tenant_id="05635727-18e2-4663-9497-cc4ac795197b",
        client_id="client",
        client_secret="generated-at-test-time",
        authority=f"https://127.0.0.1:{free_port()}",  # nothing listens there
        config=policy_config(),
        http_timeout_seconds=2,
    )
    started = time.monotonic()
    with pytest.raises(web.HTTPError) as refused:
        await down.discover()
    assert time.monotonic() - started < 5
    assert refused.value.status_code == 503
    assert refused.value.log_message.startswith(
        "Sign-in is unavailable right now: Microsoft Entra ID could not be reached. Try again in a minute"
    )
