"""Settings that cannot work stop the hub at start-up with a message naming the setting and the fix."""

import os
from pathlib import Path

import pytest

from authenticator.entra import EntraIDOAuthenticator

pytestmark = pytest.mark.unit

DEMO_POLICY = str(Path(__file__).resolve().parents[2] / "hub" / "demo" / "access-policy.yaml")
GOOD = {
    "tenant_id": "11111111-2222-4333-8444-555555555555",
    "client_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "client_secret": "generated-at-test-time",
    "access_policy_file": DEMO_POLICY,
}


@pytest.fixture(autouse=True)
def crypt_key(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "00" * 32)
    for variable in ("ACCESS_POLICY_FILE", "AAD_TENANT_ID", "ENTRA_TENANT_ID", "OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)


def test_good_settings_start_with_secure_defaults():
    auth = EntraIDOAuthenticator(**GOOD)
    assert auth.enable_pkce and auth.enable_auth_state and auth.manage_groups
    assert auth.username_claim == "preferred_username"
    assert auth.scope == ["openid", "profile", "offline_access"]
    assert auth.policy.group("analysts").role_name == "jupyterhub-analyst"
    assert auth._provider.discovery_url == (
        "https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"tenant_id": "common"},
            "EntraIDOAuthenticator cannot start: EntraIDOAuthenticator.tenant_id must be your Directory (tenant) ID, "
            "a GUID (got 'common'). Multi-tenant values such as 'common' or 'organizations' are refused: anyone's "
            "account could sign in.",
        ),
        (
            {"client_secret": ""},
            "EntraIDOAuthenticator cannot start: EntraIDOAuthenticator.client_secret is not set: give it through the "
            "OAUTH_CLIENT_SECRET environment variable",
        ),
        (
            {"authority": "http://login.example"},
            "EntraIDOAuthenticator cannot start: EntraIDOAuthenticator.authority must be an https:// URL "
            "(got 'http://login.example')",
        ),
        (
            {"access_policy_file": ""},
            "EntraIDOAuthenticator cannot start: EntraIDOAuthenticator.access_policy_file is not set: point it (or "
            "ACCESS_POLICY_FILE) at the access policy YAML",
        ),
        (
            {"access_policy_file": "/nonexistent/policy.yaml"},
            "EntraIDOAuthenticator cannot start: /nonexistent/policy.yaml: (file): cannot be read (No such file or "
            "directory). Fix: point access_policy_file at the policy YAML",
        ),
        (
            {"enable_auth_state": False},
            "EntraIDOAuthenticator cannot start: EntraIDOAuthenticator.enable_auth_state must stay True: the "
            "eligible roles live in the encrypted auth_state",
        ),
    ],
)
def test_bad_settings_stop_start_up(change, message):
    with pytest.raises(SystemExit) as stopped:
        EntraIDOAuthenticator(**{**GOOD, **change})
    assert str(stopped.value) == message


def test_missing_crypt_key_stops_start_up(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY")
    with pytest.raises(SystemExit) as stopped:
        EntraIDOAuthenticator(**GOOD)
    assert str(stopped.value) == (
        "EntraIDOAuthenticator cannot start: JUPYTERHUB_CRYPT_KEY is not set: auth_state (tokens and eligible roles) "
        "must be encrypted. Generate one with `openssl rand -hex 32` and set it in the hub's environment"
    )


def test_crypt_key_from_config_is_enough(monkeypatch):
    from traitlets.config import Config

    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY")
    config = Config()
    config.CryptKeeper.keys = [b"\x00" * 32]
    assert EntraIDOAuthenticator(config=config, **GOOD).enable_auth_state


def test_changed_policy_is_reloaded_and_a_broken_one_keeps_the_previous(tmp_path, caplog):
    policy = tmp_path / "policy.yaml"
    text = Path(DEMO_POLICY).read_text()
    policy.write_text(text)
    auth = EntraIDOAuthenticator(**{**GOOD, "access_policy_file": str(policy)}, access_policy_check_seconds=0)
    assert auth.policy.group("analysts").display_name == "Analysts"

    policy.write_text(text.replace("display_name: Analysts", "display_name: Analysts (EU)"))
    _touch_later(policy)
    assert auth.policy.group("analysts").display_name == "Analysts (EU)"

    policy.write_text(text.replace("version: 1", "version: 7"))
    _touch_later(policy)
    assert auth.policy.group("analysts").display_name == "Analysts (EU)"  # the previous policy stays in force
    assert "Access policy not reloaded, the previous one stays in force" in caplog.text
    assert "version: must be 1" in caplog.text


def _touch_later(path: Path):
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
