# Sign-in with Microsoft Entra ID (loaded by the local stack and, on Kubernetes, from jupyterhub_config.d).
# Settings come from the environment so that secrets stay in Kubernetes Secrets, never in a values file:
#   ENTRA_TENANT_ID      Directory (tenant) ID, a GUID                                    (required)
#   OAUTH_CLIENT_ID      Application (client) ID of the app registration                  (required)
#   OAUTH_CLIENT_SECRET  its client secret                                                (required, secret)
#   OAUTH_CALLBACK_URL   https://<hub host>/hub/oauth_callback, registered as a redirect URI
#   ACCESS_POLICY_FILE   the access policy YAML                                           (required)
#   JUPYTERHUB_CRYPT_KEY encrypts auth_state (openssl rand -hex 32)                       (required, secret)
#   ENTRA_AUTHORITY      sign-in host for sovereign clouds or the emulator (default: public cloud)
#   MICROSOFT_GRAPH_URL  Microsoft Graph for sovereign clouds or the emulator
#   ENTRA_CA_BUNDLE      CA bundle for a private CA or the emulator
#   ENTRA_USERNAME_STRIP_DOMAINS  comma-separated domains removed from usernames (ana@contoso.com -> ana)
# Anything set in traitlets config (Helm's hub.config.EntraIDOAuthenticator) wins over these.
import os

c.JupyterHub.authenticator_class = "entra-id"

_settings = {
    "tenant_id": "ENTRA_TENANT_ID",
    "authority": "ENTRA_AUTHORITY",
    "microsoft_graph_url": "MICROSOFT_GRAPH_URL",
    "tls_ca_bundle": "ENTRA_CA_BUNDLE",
    "access_policy_file": "ACCESS_POLICY_FILE",
}
for _trait, _variable in _settings.items():
    if os.environ.get(_variable) and _trait not in c.EntraIDOAuthenticator:
        setattr(c.EntraIDOAuthenticator, _trait, os.environ[_variable])
if os.environ.get("ENTRA_USERNAME_STRIP_DOMAINS") and "username_strip_domains" not in c.EntraIDOAuthenticator:
    c.EntraIDOAuthenticator.username_strip_domains = [
        d.strip() for d in os.environ["ENTRA_USERNAME_STRIP_DOMAINS"].split(",") if d.strip()
    ]

# Re-check group membership with Microsoft Graph at most every 5 minutes while people work, and before each spawn.
c.EntraIDOAuthenticator.auth_refresh_age = int(os.environ.get("ENTRA_MEMBERSHIP_CHECK_SECONDS", "300"))
c.EntraIDOAuthenticator.refresh_pre_spawn = True
