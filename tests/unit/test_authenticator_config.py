"""Settings that cannot work stop the hub at start-up with a message naming the setting and the fix."""

import os
from pathlib import Path

import pytest
from tornado import web
from traitlets import TraitError
from traitlets.config import Config

from authenticator.access_policy import AccessPolicyError
from authenticator.entra import ConfigurationError, EntraIDOAuthenticator

pytestmark = pytest.mark.unit

DEMO_POLICY = str(Path(__file__).resolve().parents[2] / "hub" / "demo" / "access-policy.yaml")
GOOD = {
    "tenant_id": "11111111-2222-4333-8444-555555555555",
    "client_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "client_secret": "generated-at-test-time",
}


def policy_config(path=DEMO_POLICY, **settings) -> Config:
    config = Config()
    config.AccessPolicyFile.path = str(path)
    for name, value in settings.items():
        setattr(config.AccessPolicyFile, name, value)
    return config


@pytest.fixture(autouse=True)
def crypt_key(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "00" * 32)
    # Variables the base classes would read: none of them may configure this authenticator (hub config only).
    for variable in ("AAD_TENANT_ID", "OAUTH_CLIENT_ID", "OAUTH_CALLBACK_URL", "OAUTH_CLIENT_SECRET", "LOGIN_SERVICE"):
        monkeypatch.delenv(variable, raising=False)


def test_good_settings_start_with_secure_defaults():
    auth = EntraIDOAuthenticator(config=policy_config(), **GOOD)
    assert auth.enable_pkce and auth.enable_auth_state and auth.manage_groups
    assert auth.username_claim == "preferred_username"
    assert auth.scope == ["openid", "profile", "offline_access"]
    assert (auth.auth_refresh_age, auth.refresh_pre_spawn) == (300, True)
    assert auth.login_service == "Microsoft Entra ID"
    assert auth.policy.group("analysts").role_name == "jupyterhub-analyst"
    assert auth._provider.discovery_url == (
        "https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration"
    )


def test_settings_come_from_the_hub_config_not_from_environment_variables(monkeypatch):
    monkeypatch.setenv("AAD_TENANT_ID", "99999999-2222-4333-8444-555555555555")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "99999999-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    monkeypatch.setenv("OAUTH_CALLBACK_URL", "https://elsewhere.example/hub/oauth_callback")
    monkeypatch.setenv("LOGIN_SERVICE", "Somewhere else")
    with pytest.raises(ConfigurationError, match=r"^EntraIDOAuthenticator.tenant_id is not set"):
        EntraIDOAuthenticator(config=policy_config(), client_id=GOOD["client_id"], client_secret="s")
    auth = EntraIDOAuthenticator(config=policy_config(), **GOOD)
    assert (auth.client_id, auth.oauth_callback_url, auth.login_service) == (
        GOOD["client_id"],
        "",
        "Microsoft Entra ID",
    )


def test_the_client_secret_comes_from_its_environment_variable(monkeypatch):
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "from-a-kubernetes-secret")
    auth = EntraIDOAuthenticator(config=policy_config(), tenant_id=GOOD["tenant_id"], client_id=GOOD["client_id"])
    assert auth.client_secret == "from-a-kubernetes-secret"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"tenant_id": "common"},
            "EntraIDOAuthenticator.tenant_id must be your Directory (tenant) ID, a GUID (got 'common'). Multi-tenant "
            "values such as 'common' or 'organizations' are refused: anyone's account could sign in.",
        ),
        (
            {"tenant_id": ""},
            "EntraIDOAuthenticator.tenant_id must be your Directory (tenant) ID, a GUID (got ''). Multi-tenant "
            "values such as 'common' or 'organizations' are refused: anyone's account could sign in.",
        ),
        (
            {"client_id": ""},
            "EntraIDOAuthenticator.client_id is not set: use the app registration's Application (client) ID (Helm: "
            "hub.config.EntraIDOAuthenticator.client_id)",
        ),
        (
            {"client_secret": ""},
            "EntraIDOAuthenticator.client_secret is not set: give it through the OAUTH_CLIENT_SECRET environment "
            "variable (on Kubernetes from a Secret, never in a values file)",
        ),
        (
            {"authority": "http://login.example"},
            "EntraIDOAuthenticator.authority must be an https:// URL (got 'http://login.example')",
        ),
        (
            {"microsoft_graph_url": "graph.example"},
            "EntraIDOAuthenticator.microsoft_graph_url must be an https:// URL (got 'graph.example')",
        ),
        (
            {"enable_auth_state": False},
            "EntraIDOAuthenticator.enable_auth_state must stay True: the eligible roles live in the encrypted "
            "auth_state",
        ),
    ],
)
def test_bad_settings_stop_start_up(change, message):
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=policy_config(), **{**GOOD, **change})
    assert str(stopped.value) == message


def test_bad_settings_in_the_hub_config_are_refused_naming_the_setting():
    config = policy_config()
    config.EntraIDOAuthenticator.tenant_id = "organizations"
    with pytest.raises(ConfigurationError, match=r"^EntraIDOAuthenticator.tenant_id must be your Directory"):
        EntraIDOAuthenticator(config=config, client_id=GOOD["client_id"], client_secret="s")


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (
            Config(),
            TraitError,
            "AccessPolicyFile.path is not set: point it at the access policy YAML (c.AccessPolicyFile.path in the hub "
            "config; hub.config.AccessPolicyFile.path in the Helm values)",
        ),
        (
            policy_config("/nonexistent/policy.yaml"),
            AccessPolicyError,
            "/nonexistent/policy.yaml: (file): cannot be read (No such file or directory). Fix: point "
            "access_policy_file at the policy YAML",
        ),
    ],
)
def test_a_missing_policy_file_stops_start_up(config, error, message):
    with pytest.raises(error) as stopped:
        EntraIDOAuthenticator(config=config, **GOOD)
    assert str(stopped.value) == message


def test_missing_crypt_key_stops_start_up(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY")
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=policy_config(), **GOOD)
    assert str(stopped.value) == (
        "JUPYTERHUB_CRYPT_KEY is not set: auth_state (tokens and eligible roles) must be encrypted. Generate one "
        "with `openssl rand -hex 32` and set it in the hub's environment"
    )


def test_crypt_key_from_config_is_enough(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY")
    config = policy_config()
    config.CryptKeeper.keys = [b"\x00" * 32]
    assert EntraIDOAuthenticator(config=config, **GOOD).enable_auth_state


def test_changed_policy_is_reloaded_and_a_broken_one_keeps_the_previous(tmp_path, caplog):
    policy = tmp_path / "policy.yaml"
    text = Path(DEMO_POLICY).read_text()
    policy.write_text(text)
    auth = EntraIDOAuthenticator(config=policy_config(policy, check_seconds=0), **GOOD)
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


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        ({"issuer": "https://login.example/t/v2.0"}, "lacks authorization_endpoint, token_endpoint, jwks_uri"),
        (ValueError("Expecting value: line 1 column 1 (char 0)"), "Expecting value"),  # not JSON at all
    ],
)
async def test_an_unusable_discovery_document_is_not_called_unreachable(answer, logged, caplog):
    auth = EntraIDOAuthenticator(config=policy_config(), **GOOD)

    async def fetch_json(url, headers=None):
        if isinstance(answer, Exception):
            raise answer
        return answer

    auth._provider._fetch_json = fetch_json
    with pytest.raises(web.HTTPError) as refused:
        await auth.discover()
    assert refused.value.status_code == 503
    assert refused.value.log_message == (
        "Sign-in is unavailable right now: Microsoft Entra ID answered, but not with a usable sign-in configuration. "
        "Tell your administrator (the hub's log says what is wrong with it)."
    )
    assert "could not be reached" not in caplog.text
    assert logged in caplog.text


# ---- options of the base classes that this authenticator does not honour (issue 11, section 2) ---------------------

WHO_SIGNS_IN = (
    "is not supported by EntraIDOAuthenticator: who may sign in is decided by the access policy file "
    "(AccessPolicyFile.path): add the person's Entra ID group to an access group there"
)
WHO_IS_ADMIN = (
    "is not supported by EntraIDOAuthenticator: hub admins are the members of access groups marked `hub_admin: "
    "true` in the access policy; they hold the hub-admin role, not JupyterHub's built-in admin role "
    "(HubAdmins.may_open_peoples_servers)"
)
GROUPS_FROM_ENTRA = (
    "is not supported by EntraIDOAuthenticator: groups come from Microsoft Graph, at sign-in and at every re-check"
)
FROM_DISCOVERY = "is not supported by EntraIDOAuthenticator: endpoints come from OpenID discovery: set " + (
    "EntraIDOAuthenticator.authority"
)


@pytest.mark.parametrize(
    ("section", "option", "value", "message"),
    [
        ("EntraIDOAuthenticator", "allow_all", True, WHO_SIGNS_IN),
        ("Authenticator", "allow_all", True, WHO_SIGNS_IN),
        ("Authenticator", "allow_existing_users", True, WHO_SIGNS_IN),
        ("Authenticator", "allowed_users", {"ana"}, WHO_SIGNS_IN),
        ("OAuthenticator", "allowed_groups", {"analysts"}, WHO_SIGNS_IN),
        ("OAuthenticator", "allowed_scopes", ["openid"], WHO_SIGNS_IN),
        ("Authenticator", "admin_users", {"alex"}, WHO_IS_ADMIN),
        ("OAuthenticator", "admin_groups", {"platform-admins"}, WHO_IS_ADMIN),
        (
            "Authenticator",
            "blocked_users",
            {"sam"},
            "is not supported by EntraIDOAuthenticator: to stop someone, remove them from the access groups' Entra "
            "ID groups or disable their Entra ID account: the hub re-checks membership every auth_refresh_age and "
            "signs them out",
        ),
        ("AzureAdOAuthenticator", "user_groups_claim", "groups", GROUPS_FROM_ENTRA),
        ("OAuthenticator", "auth_state_groups_key", "user.groups", GROUPS_FROM_ENTRA),
        (
            "AzureAdOAuthenticator",
            "graph_url",
            "https://graph.microsoft.com",
            "is not supported by EntraIDOAuthenticator: use EntraIDOAuthenticator.microsoft_graph_url "
            "(oauthenticator's graph_url is a sign-in host)",
        ),
        ("EntraIDOAuthenticator", "authorize_url", "https://login.example/authorize", FROM_DISCOVERY),
        ("OAuthenticator", "token_url", "https://login.example/token", FROM_DISCOVERY),
        (
            "OAuthenticator",
            "username_map",
            {"sam@contoso.com": "sam"},
            "is not supported by EntraIDOAuthenticator: names come from username_claim and username_strip_domains; "
            "to give a person an existing account, use EntraIDOAuthenticator.adopt_accounts",
        ),
        (
            "OAuthenticator",
            "refresh_user_hook",
            lambda authenticator, user, auth_state: True,
            "is not supported by EntraIDOAuthenticator: membership is re-checked by the authenticator itself "
            "(auth_refresh_age)",
        ),
        (
            "OAuthenticator",
            "validate_server_cert",
            False,
            "is not supported by EntraIDOAuthenticator: TLS is always verified; for a private CA set "
            "EntraIDOAuthenticator.tls_ca_bundle",
        ),
    ],
)
def test_inherited_options_not_honoured_stop_start_up_naming_the_replacement(section, option, value, message):
    config = policy_config()
    setattr(config[section], option, value)
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=config, **GOOD)
    assert str(stopped.value) == f"{section}.{option} {message}"


def test_turning_tls_verification_off_through_the_environment_stops_start_up(monkeypatch):
    monkeypatch.setenv("OAUTH_TLS_VERIFY", "0")
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=policy_config(), **GOOD)
    assert str(stopped.value) == (
        "OAUTH_TLS_VERIFY=0 would turn off TLS verification of the code exchange, where the client secret and "
        "people's tokens travel: refused. Unset it; for a private CA set EntraIDOAuthenticator.tls_ca_bundle"
    )


def test_http_request_kwargs_add_to_the_ca_bundle_and_timeouts_never_replace_them():
    config = policy_config()
    config.EntraIDOAuthenticator.http_request_kwargs = {"proxy_host": "proxy.example", "proxy_port": 3128}
    auth = EntraIDOAuthenticator(config=config, tls_ca_bundle="/etc/ssl/private-ca.pem", http_timeout_seconds=4, **GOOD)
    assert auth.http_request_kwargs == {
        "proxy_host": "proxy.example",
        "proxy_port": 3128,
        "ca_certs": "/etc/ssl/private-ca.pem",
        "connect_timeout": 4,
        "request_timeout": 4,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ca_certs": "/tmp/other.pem"}, "must not set 'ca_certs': use EntraIDOAuthenticator.tls_ca_bundle"),
        ({"request_timeout": 600}, "must not set 'request_timeout': use EntraIDOAuthenticator.http_timeout_seconds"),
        (
            {"validate_cert": False},
            "must not set 'validate_cert': use EntraIDOAuthenticator.tls_ca_bundle (TLS is always verified)",
        ),
    ],
)
def test_http_request_kwargs_cannot_override_the_ca_bundle_timeouts_or_verification(kwargs, message):
    config = policy_config()
    config.EntraIDOAuthenticator.http_request_kwargs = kwargs
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=config, **GOOD)
    assert str(stopped.value) == f"EntraIDOAuthenticator.http_request_kwargs {message}"


SAM_OID = "6f2c1b0a-1d2e-4f3a-8b4c-5d6e7f8a9b0c"


def test_adopted_accounts_give_an_identity_its_existing_account_name():
    auth = EntraIDOAuthenticator(config=policy_config(), adopt_accounts={"sam.smith": SAM_OID.upper()}, **GOOD)
    assert auth.adopt_accounts == {"sam.smith": SAM_OID}
    claims = {"oid": SAM_OID, "preferred_username": "sam@contoso.example"}
    assert auth.user_info_to_username(claims) == "sam.smith"
    other = {"oid": "00000000-0000-4000-8000-000000000001", "preferred_username": "sam.smith@contoso.example"}
    assert (
        auth.user_info_to_username(other) == "sam.smith-contoso.example--03a6ddf9"
    )  # its own name, never the adopted account


@pytest.mark.parametrize(
    ("adopt", "message"),
    [
        (
            {"Sam Smith": SAM_OID},
            "EntraIDOAuthenticator.adopt_accounts: 'Sam Smith' is not a name this hub can use (S3 keys, Kubernetes "
            "labels, STS session names); its safe form is 'sam-smith--b2462861'. Rename the account first (hub API: "
            'PATCH /hub/api/users/<name> with {"name": ...}), then adopt the new name',
        ),
        (
            {"sam": "sam@contoso.example"},
            "EntraIDOAuthenticator.adopt_accounts['sam'] must be the person's Entra object id, a GUID (got "
            "'sam@contoso.example')",
        ),
        (
            {"sam": SAM_OID, "sam.old": SAM_OID},
            f"EntraIDOAuthenticator.adopt_accounts gives object id {SAM_OID} more than one account: a person signs "
            "in to one account",
        ),
    ],
)
def test_bad_adopted_accounts_stop_start_up(adopt, message):
    with pytest.raises(ConfigurationError) as stopped:
        EntraIDOAuthenticator(config=policy_config(), adopt_accounts=adopt, **GOOD)
    assert str(stopped.value) == message


async def test_the_access_policy_refusal_runs_where_no_allow_switch_can_skip_it():
    """JupyterHub skips check_allowed when allow_all is set; update_auth_model always runs, so the refusal is there."""
    from tornado import web

    auth = EntraIDOAuthenticator(config=policy_config(), **GOOD)
    sales = "b40d5c06-f477-42fc-9c90-d4e455f472d7"  # a group the demo policy does not map

    class Graph:  # Microsoft Graph's answer for this person (the emulator's tests cover the real calls)
        async def transitive_group_ids(self, oid):
            return {sales}

    auth._graph = Graph()
    claims = {"oid": SAM_OID, "tid": GOOD["tenant_id"]}
    model = {"name": "noah", "admin": None, "auth_state": {"entra": {"oid": SAM_OID}, "_claims": claims}}
    with pytest.raises(web.HTTPError) as refused:
        await auth.update_auth_model(model)
    assert refused.value.status_code == 403
    assert refused.value.log_message.startswith(
        "You have no access to this hub: you are not in any of the Entra ID groups that grant it."
    )
