# Sign-in with Microsoft Entra ID (authenticator/entra.py). Loaded by the local stack and, on Kubernetes, from
# jupyterhub_config.d. Its settings are traits, set in the hub config before this folder is loaded (Helm:
# hub.config.EntraIDOAuthenticator.*, hub.config.AccessPolicyFile.path); docs/configuration.md lists them all.
# Secrets stay in the environment, from Kubernetes Secrets: OAUTH_CLIENT_SECRET and JUPYTERHUB_CRYPT_KEY.
c.JupyterHub.authenticator_class = "entra-id"
