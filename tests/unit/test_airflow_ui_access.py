"""Who may use the Airflow UI (authenticator/airflow_ui.py): hub admins from the access policy, nobody else; settings
read from the api-server's environment with a refusal that names the variable."""

import secrets
from pathlib import Path

import pytest

from authenticator.access_policy import load_access_policy
from authenticator.airflow_ui import (
    NOT_A_HUB_ADMIN,
    ROLES_MAPPING,
    AirflowUIConfigurationError,
    AirflowUISettings,
    airflow_user_info,
    oauth_provider,
    role_keys,
    settings_from_environment,
    sign_in_failed,
)

pytestmark = pytest.mark.unit

DEMO_POLICY = Path(__file__).resolve().parents[2] / "hub" / "demo" / "access-policy.yaml"
# The demo policy's Entra group ids (hub/demo/access-policy.yaml): only platform-admins is marked hub_admin.
ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
DATA_ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"
PLATFORM_ADMINS = "2a95bd00-d53d-4f76-87f4-0e8a179a4fd6"
UNMAPPED = "7d1c9e55-0b3a-4f6e-8c2d-9a8b7c6d5e4f"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0b9d8f4e-3c7a-4e5b-9a61-2f1e8d7c6b5a"
ENVIRONMENT = {"ENTRA_TENANT_ID": TENANT, "ENTRA_CLIENT_ID": CLIENT}
SETTINGS = AirflowUISettings(
    tenant_id=TENANT,
    client_id=CLIENT,
    authority="https://login.microsoftonline.com",
    graph_url="https://graph.microsoft.com",
    client_secret_file="/var/run/secrets/entra-oauth/client-secret",
    access_policy_file="/etc/access-policy/access-policy.yaml",
)


@pytest.fixture(scope="module")
def policy():
    return load_access_policy(DEMO_POLICY)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([PLATFORM_ADMINS], ["hub_admin"]),
        ([ANALYSTS, PLATFORM_ADMINS], ["hub_admin"]),
        ([PLATFORM_ADMINS.upper()], ["hub_admin"]),  # Graph's ids in any letter case
        ([ANALYSTS], []),
        ([ANALYSTS, DATA_ENGINEERS], []),  # every AWS role, still not a hub admin
        ([UNMAPPED], []),
        ([], []),
    ],
)
def test_only_members_of_hub_admin_groups_get_a_role_key(policy, groups, expected):
    assert role_keys(policy, groups) == expected


def test_the_role_key_maps_to_airflows_admin_role_and_nothing_else():
    assert ROLES_MAPPING == {"hub_admin": ["Admin"]}


def test_the_user_record_is_keyed_by_the_object_id():
    claims = {
        "oid": "0F6C6E47-1F2E-4B8E-9C1D-2A3B4C5D6E7F",
        "tid": TENANT,
        "name": "Ana Admin",
        "preferred_username": "ana@contoso.example",
        "groups": ["ignored-by-design"],
    }
    assert airflow_user_info(claims, ["hub_admin"]) == {
        "username": "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f",
        "email": "ana@contoso.example",
        "first_name": "Ana Admin",
        "last_name": "",
        "role_keys": ["hub_admin"],
    }


def test_given_and_family_names_and_email_are_used_when_present():
    claims = {
        "oid": "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f",
        "email": "ana.admin@contoso.example",
        "preferred_username": "ana@contoso.example",
        "name": "Ana Admin",
        "given_name": "Ana",
        "family_name": "Admin",
    }
    assert airflow_user_info(claims, []) == {
        "username": "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f",
        "email": "ana.admin@contoso.example",
        "first_name": "Ana",
        "last_name": "Admin",
        "role_keys": [],
    }


@pytest.mark.parametrize("oid", [None, "", "ana", "0f6c6e47-1f2e-4b8e-9c1d"])
def test_a_token_without_an_object_id_is_refused(oid):
    with pytest.raises(ValueError) as refused:
        airflow_user_info({"oid": oid, "preferred_username": "ana@contoso.example"}, ["hub_admin"])
    assert str(refused.value) == "the id_token has no object id (oid): ask for the 'profile' scope"


def test_settings_with_the_public_cloud_and_the_mounted_files_by_default():
    assert settings_from_environment(ENVIRONMENT) == SETTINGS
    assert SETTINGS.tenant_authority == f"https://login.microsoftonline.com/{TENANT}"
    assert SETTINGS.discovery_url == f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"


def test_settings_for_a_sovereign_cloud_and_other_files():
    environ = {
        "ENTRA_TENANT_ID": f" {TENANT.upper()} ",
        "ENTRA_CLIENT_ID": CLIENT,
        "ENTRA_AUTHORITY": "https://login.microsoftonline.us/",
        "MICROSOFT_GRAPH_URL": "https://graph.microsoft.us",
        "ENTRA_CLIENT_SECRET_FILE": "/secrets/client-secret",
        "ACCESS_POLICY_FILE": "/policy/policy.yaml",
        "UNRELATED": "x",
    }
    assert settings_from_environment(environ) == AirflowUISettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        authority="https://login.microsoftonline.us",
        graph_url="https://graph.microsoft.us",
        client_secret_file="/secrets/client-secret",
        access_policy_file="/policy/policy.yaml",
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ENTRA_CLIENT_ID": CLIENT},
            "ENTRA_TENANT_ID is not set. Fix: set it to the Directory (tenant) ID of the hub's app registration "
            "(apiServer.env in the values)",
        ),
        (
            {"ENTRA_TENANT_ID": TENANT, "ENTRA_CLIENT_ID": "  "},
            "ENTRA_CLIENT_ID is not set. Fix: set it to the Application (client) ID of the hub's app registration "
            "(apiServer.env in the values)",
        ),
        (
            {"ENTRA_TENANT_ID": "contoso.onmicrosoft.com", "ENTRA_CLIENT_ID": CLIENT},
            "ENTRA_TENANT_ID must be a GUID (got 'contoso.onmicrosoft.com'). Fix: copy it from the app registration's "
            "Overview page",
        ),
        (
            {**ENVIRONMENT, "ENTRA_AUTHORITY": "http://login.microsoftonline.com"},
            "ENTRA_AUTHORITY must be an https:// URL (got 'http://login.microsoftonline.com'). Fix: leave it unset "
            "for the public cloud, or set the same value as the hub's EntraIDOAuthenticator setting",
        ),
        (
            {**ENVIRONMENT, "MICROSOFT_GRAPH_URL": "graph.microsoft.com"},
            "MICROSOFT_GRAPH_URL must be an https:// URL (got 'graph.microsoft.com'). Fix: leave it unset for the "
            "public cloud, or set the same value as the hub's EntraIDOAuthenticator setting",
        ),
    ],
)
def test_a_wrong_setting_stops_the_api_server_naming_the_variable(environ, message):
    with pytest.raises(AirflowUIConfigurationError) as refused:
        settings_from_environment(environ)
    assert str(refused.value) == message


def test_the_oauth_provider_uses_the_tenants_v2_endpoints_with_pkce():
    client_secret = secrets.token_urlsafe(24)
    v2 = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0"
    assert oauth_provider(SETTINGS, client_secret) == {
        "name": "entra-id",
        "icon": "fa-windows",
        "token_key": "access_token",
        "remote_app": {
            "client_id": CLIENT,
            "client_secret": client_secret,
            "authorize_url": f"{v2}/authorize",
            "access_token_url": f"{v2}/token",
            "server_metadata_url": f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration",
            "client_kwargs": {"scope": "openid profile email", "code_challenge_method": "S256"},
        },
    }


def test_what_a_refused_person_reads():
    assert NOT_A_HUB_ADMIN == (
        "The Airflow UI is for hub admins (members of the access policy's hub_admin groups), and you are not one. "
        "Your scheduled notebooks and their runs are on the hub's Scheduled runs page."
    )
    assert sign_in_failed("the id_token has expired") == (
        "Sign-in to the Airflow UI failed: the id_token has expired. Try again in a minute; if it keeps failing, "
        "tell the hub's admins."
    )
