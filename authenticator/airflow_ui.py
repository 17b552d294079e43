"""Who may use the Airflow UI: hub admins, signed in with the hub's own Entra ID app, decided by the access policy.

The Airflow UI (Airflow 3, FAB auth manager; ``helm/airflow_webserver_config.py``) signs people in with the same
Entra ID app registration as the hub: OAuth 2.0 authorization code with PKCE against the tenant's v2.0 endpoints.
Members of an access group marked ``hub_admin`` get Airflow's ``Admin`` role; everyone else is refused with a page
that sends them to the hub, where people schedule and follow their own notebooks. As at the hub's sign-in, group
memberships come from Microsoft Graph (``transitiveMemberOf``), never from the token's ``groups`` claim (README,
"Groups come from Microsoft Graph").

Everything here is pure: the settings read from an environment mapping, the OAuth provider entry FAB reads, the role
keys and the user record FAB stores, and the words a refused person reads. The webserver_config does the I/O (the
tenant's signing keys, Graph) and hands the results to these functions.
ref: https://airflow.apache.org/docs/apache-airflow-providers-fab/stable/auth-manager/sso.html
ref: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .access_policy import AccessPolicy, is_guid

# FAB's built-in role with every permission in Airflow, and the role key our user records carry for it.
# ref: https://airflow.apache.org/docs/apache-airflow-providers-fab/stable/auth-manager/access-control.html
AIRFLOW_ADMIN_ROLE = "Admin"
HUB_ADMIN_ROLE_KEY = "hub_admin"
# AUTH_ROLES_MAPPING: the only role this deployment gives.
ROLES_MAPPING = {HUB_ADMIN_ROLE_KEY: [AIRFLOW_ADMIN_ROLE]}
# The provider's name is part of the redirect URI registered in Entra ID: https://<airflow host>/auth/oauth-authorized/
# entra-id (Airflow 3 serves the FAB auth manager's pages under /auth/).
PROVIDER_NAME = "entra-id"
# openid: an id_token (who signed in, verified against the tenant's keys); profile: its oid and name claims; email.
# ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
SCOPES = "openid profile email"

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"

# The api-server's environment (apiServer.env of the site values): names, not secrets.
ENV_TENANT_ID = "ENTRA_TENANT_ID"
ENV_CLIENT_ID = "ENTRA_CLIENT_ID"
ENV_AUTHORITY = "ENTRA_AUTHORITY"
ENV_GRAPH_URL = "MICROSOFT_GRAPH_URL"
ENV_CLIENT_SECRET_FILE = "ENTRA_CLIENT_SECRET_FILE"  # noqa: S105 - a variable name, not a secret
ENV_ACCESS_POLICY_FILE = "ACCESS_POLICY_FILE"
# Where helm/airflow-values.yaml mounts the hub's Entra client secret (Secret `entra-oauth`) and the access policy
# (ConfigMap `airflow-access-policy`) into the api-server; the two variables above may point elsewhere.
CLIENT_SECRET_FILE = "/var/run/secrets/entra-oauth/client-secret"  # noqa: S105 - a path, not a secret
ACCESS_POLICY_FILE = "/etc/access-policy/access-policy.yaml"

NOT_A_HUB_ADMIN = (
    "The Airflow UI is for hub admins (members of the access policy's hub_admin groups), and you are not one. "
    "Your scheduled notebooks and their runs are on the hub's Scheduled runs page."
)


class AirflowUIConfigurationError(ValueError):
    """A setting of the Airflow UI's sign-in is missing or wrong: the message names it and the fix."""


@dataclass(frozen=True)
class AirflowUISettings:
    tenant_id: str
    client_id: str
    authority: str
    graph_url: str
    client_secret_file: str
    access_policy_file: str

    @property
    def tenant_authority(self) -> str:
        """Where MSAL asks for Graph application tokens, and the base of the sign-in endpoints."""
        return f"{self.authority}/{self.tenant_id}"

    @property
    def discovery_url(self) -> str:
        """The tenant's v2.0 OpenID discovery document: its issuer and its signing keys (jwks_uri)."""
        return f"{self.tenant_authority}/v2.0/.well-known/openid-configuration"


def _https_url(environ: Mapping[str, str], name: str, default: str) -> str:
    value = (environ.get(name) or default).strip().rstrip("/")
    if not value.startswith("https://"):
        raise AirflowUIConfigurationError(
            f"{name} must be an https:// URL (got {value!r}). Fix: leave it unset for the public cloud, or set the "
            "same value as the hub's EntraIDOAuthenticator setting"
        )
    return value


def _required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = (environ.get(name) or "").strip()
    if not value:
        raise AirflowUIConfigurationError(f"{name} is not set. Fix: set it to {what} (apiServer.env in the values)")
    return value


def settings_from_environment(environ: Mapping[str, str]) -> AirflowUISettings:
    """The sign-in settings from the api-server's environment; the first problem raises, naming the variable."""
    tenant_id = _required(environ, ENV_TENANT_ID, "the Directory (tenant) ID of the hub's app registration")
    client_id = _required(environ, ENV_CLIENT_ID, "the Application (client) ID of the hub's app registration")
    for name, value in ((ENV_TENANT_ID, tenant_id), (ENV_CLIENT_ID, client_id)):
        if not is_guid(value):
            raise AirflowUIConfigurationError(
                f"{name} must be a GUID (got {value!r}). Fix: copy it from the app registration's Overview page"
            )
    return AirflowUISettings(
        tenant_id=tenant_id.lower(),
        client_id=client_id.lower(),
        authority=_https_url(environ, ENV_AUTHORITY, PUBLIC_AUTHORITY),
        graph_url=_https_url(environ, ENV_GRAPH_URL, PUBLIC_GRAPH),
        client_secret_file=(environ.get(ENV_CLIENT_SECRET_FILE) or CLIENT_SECRET_FILE).strip(),
        access_policy_file=(environ.get(ENV_ACCESS_POLICY_FILE) or ACCESS_POLICY_FILE).strip(),
    )


def oauth_provider(settings: AirflowUISettings, client_secret: str) -> dict:
    """The entry of FAB's OAUTH_PROVIDERS: the tenant's v2.0 endpoints, PKCE, and the discovery document (from which
    the OAuth client (Authlib) takes the keys and checks the id_token's nonce)."""
    v2 = f"{settings.tenant_authority}/oauth2/v2.0"
    return {
        "name": PROVIDER_NAME,
        "icon": "fa-windows",
        "token_key": "access_token",
        "remote_app": {
            "client_id": settings.client_id,
            "client_secret": client_secret,
            "authorize_url": f"{v2}/authorize",
            "access_token_url": f"{v2}/token",
            "server_metadata_url": settings.discovery_url,
            "client_kwargs": {"scope": SCOPES, "code_challenge_method": "S256"},
        },
    }


def role_keys(policy: AccessPolicy, entra_group_ids: Iterable[str]) -> list[str]:
    """FAB role keys for a member of these groups: the hub-admin key for hub admins, nothing for anyone else."""
    return [HUB_ADMIN_ROLE_KEY] if policy.decide(entra_group_ids).admin else []


def airflow_user_info(claims: Mapping, keys: list[str]) -> dict:
    """The user record FAB keeps, from the verified id_token's claims. The username is the immutable object id
    (``oid``): a renamed person keeps their account, and nobody gets another person's account by taking their name."""
    oid = str(claims.get("oid") or "").lower()
    if not is_guid(oid):
        raise ValueError("the id_token has no object id (oid): ask for the 'profile' scope")
    return {
        "username": oid,
        "email": claims.get("email") or claims.get("preferred_username") or "",
        "first_name": claims.get("given_name") or claims.get("name") or "",
        "last_name": claims.get("family_name") or "",
        "role_keys": list(keys),
    }


def sign_in_failed(reason: str) -> str:
    """What a person reads when their sign-in could not be checked (``reason`` names the failed check, no secrets)."""
    return (
        f"Sign-in to the Airflow UI failed: {reason}. "
        "Try again in a minute; if it keeps failing, tell the hub's admins."
    )
