"""The Airflow UI's sign-in (Airflow 3, FAB auth manager): Entra ID with the hub's app registration, hub admins only.

The chart mounts this file as $AIRFLOW_HOME/webserver_config.py in the api-server:
    helm upgrade ... --set-file apiServer.apiServerConfig=helm/airflow_webserver_config.py
(the chart passes the value through Helm's `tpl`, so this file must never contain two opening braces in a row).

What it does, at each sign-in (OAuth 2.0 authorization code with PKCE, the tenant's v2.0 endpoints):
1. verifies the id_token against the tenant's published keys (issuer, audience, tenant, lifetime) with the project's
   own verifier (authenticator/oidc.py); FAB's OAuth client (Authlib) has already checked the nonce;
2. reads the person's groups from Microsoft Graph (transitiveMemberOf, application token), as the hub does, never
   from the token's groups claim;
3. gives Airflow's Admin role to members of the access policy's hub_admin groups (authenticator/airflow_ui.py, pure
   and unit-tested) and refuses everyone else, saying where to go instead. A former admin's stored roles are emptied.
Roles are re-decided at every sign-in (AUTH_ROLES_SYNC_AT_LOGIN).
ref: https://airflow.apache.org/docs/apache-airflow-providers-fab/stable/auth-manager/sso.html
ref: https://airflow.apache.org/docs/apache-airflow-providers-fab/stable/auth-manager/webserver-authentication.html
ref: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
ref: https://learn.microsoft.com/graph/api/user-list-transitivememberof
"""

import asyncio
import logging
import os
from pathlib import Path

import requests
from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
from flask import flash
from flask_appbuilder.const import AUTH_OAUTH

from authenticator.access_policy import load_access_policy
from authenticator.airflow_ui import (
    NOT_A_HUB_ADMIN,
    PROVIDER_NAME,
    ROLES_MAPPING,
    airflow_user_info,
    oauth_provider,
    role_keys,
    settings_from_environment,
    sign_in_failed,
)
from authenticator.graph import GraphClient, GraphError, GraphRefused, retry_after_seconds
from authenticator.oidc import IdTokenError, OpenIDProvider

log = logging.getLogger(__name__)

# Read once per api-server process: a changed policy ConfigMap or secret reaches it with a restart (runbook).
SETTINGS = settings_from_environment(os.environ)
_CLIENT_SECRET = Path(SETTINGS.client_secret_file).read_text().strip()
POLICY = load_access_policy(SETTINGS.access_policy_file)
REQUEST_TIMEOUT_SECONDS = 10
ID_TOKEN_LEEWAY_SECONDS = 120


def _get_json(url: str, headers: dict) -> dict:
    response = requests.get(url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
    if response.status_code >= 400:
        raise GraphRefused(response.status_code, retry_after_seconds(response.headers.get("Retry-After")))
    return response.json()


async def _graph_json(url: str, headers: dict) -> dict:
    return await asyncio.to_thread(_get_json, url, headers)


async def _public_json(url: str) -> dict:
    """The tenant's discovery document and keys (no credentials sent)."""
    response = await asyncio.to_thread(requests.get, url, timeout=REQUEST_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()


_TENANT = OpenIDProvider(SETTINGS.discovery_url, _public_json)
_GRAPH = GraphClient(
    authority=SETTINGS.tenant_authority,
    client_id=SETTINGS.client_id,
    client_secret=_CLIENT_SECRET,
    graph_url=SETTINGS.graph_url,
    fetch_json=_graph_json,
    timeout_seconds=REQUEST_TIMEOUT_SECONDS,
)


async def _claims_and_groups(id_token: str) -> tuple[dict, set[str]]:
    claims = await _TENANT.verify(id_token, SETTINGS.client_id, SETTINGS.tenant_id, None, ID_TOKEN_LEEWAY_SECONDS)
    return claims, await _GRAPH.transitive_group_ids(claims["oid"])


class EntraHubAdminsSecurityManager(FabAirflowSecurityManagerOverride):
    """FAB's security manager with the two documented override points: who signed in, and whether they may."""

    def get_oauth_user_info(self, provider, resp):
        # Authlib puts the id_token's claims under "userinfo" only after checking its nonce against this session.
        if provider != PROVIDER_NAME or "id_token" not in resp or "userinfo" not in resp:
            flash(sign_in_failed("Entra ID's answer carried no id_token tied to this sign-in"), "warning")
            return {}
        try:
            claims, groups = asyncio.run(_claims_and_groups(resp["id_token"]))
            return airflow_user_info(claims, role_keys(POLICY, groups))
        except IdTokenError as e:
            reason = e.reason
        except GraphError as e:
            reason = f"your groups could not be read from Microsoft Graph ({e})"
        except (requests.RequestException, ValueError) as e:
            reason = f"Entra ID could not be asked ({type(e).__name__})"
        log.warning("Airflow UI sign-in refused: %s", reason)
        flash(sign_in_failed(reason), "warning")
        return {}

    def auth_user_oauth(self, userinfo, rotate_session_id=True):
        if userinfo and not userinfo.get("role_keys"):
            user = self.find_user(username=userinfo["username"])
            if user is not None and user.roles:
                user.roles = []  # a former hub admin keeps no role in Airflow's database
                self.update_user(user)
            log.info("Airflow UI sign-in refused for %s: not a hub admin", userinfo["username"])
            flash(NOT_A_HUB_ADMIN, "warning")
            return None
        return super().auth_user_oauth(userinfo, rotate_session_id)


AUTH_TYPE = AUTH_OAUTH
OAUTH_PROVIDERS = [oauth_provider(SETTINGS, _CLIENT_SECRET)]
SECURITY_MANAGER_CLASS = EntraHubAdminsSecurityManager
# An account is made at a hub admin's first sign-in; its roles are decided again at every sign-in.
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Public"  # FAB's role without permissions; admins get Admin from the mapping
AUTH_ROLES_MAPPING = ROLES_MAPPING
AUTH_ROLES_SYNC_AT_LOGIN = True
WTF_CSRF_ENABLED = True
