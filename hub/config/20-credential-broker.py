# The AWS credential broker: a hub-managed JupyterHub service, the only component holding AWS permissions.
# Loaded by the local stack and, on Kubernetes, from jupyterhub_config.d. Settings from the environment:
#   ACCESS_POLICY_FILE   the access policy YAML (the authenticator's file)                        (required)
#   BROKER_PORT          where the broker listens, next to the hub (default 8181)
#   BROKER_HOST          its listening address (default 127.0.0.1; 0.0.0.0 on Kubernetes)
#   AWS_*                the broker's own AWS identity and region: passed to the broker only, never to servers
#   BROKER_*             tuning, see hub/broker/settings.py (BROKER_TEST_* are for tests only)
# Notebook servers get the custom scope `custom:aws-credentials:issue` on their own token: it lets the token's owner
# (and no one else) obtain their own credentials from the broker.
import os
import sys

BROKER_SERVICE_NAME = "aws-credentials"
BROKER_SCOPE = "custom:aws-credentials:issue"

# (interim, until the broker reads its settings from the hub config) the policy and port from the hub config.
_policy = c.AccessPolicyFile.get("path") or ""
if not _policy:
    raise SystemExit("The AWS credential broker cannot start: AccessPolicyFile.path is not set")
_port = int(c.CredentialBroker.get("port", 8181))
_host = c.CredentialBroker.get("ip", "127.0.0.1")

# The broker's environment: what it needs, nothing else (a hub-managed service does not inherit the hub's).
_passed = ("ACCESS_POLICY_FILE", "PATH", "PYTHONPATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_environment = {name: os.environ[name] for name in _passed if name in os.environ} | {"ACCESS_POLICY_FILE": _policy}
_environment.update({name: value for name, value in os.environ.items() if name.startswith(("AWS_", "BROKER_"))})

c.JupyterHub.services.append(
    {
        "name": BROKER_SERVICE_NAME,
        "url": c.CredentialBroker.get("url") or f"http://{_host}:{_port}",
        "command": [sys.executable, "-m", "hub.broker"],
        "environment": _environment,
        "display": False,
        # Its "What can I access?" page signs people in through the hub's OAuth; no extra consent page for it.
        "oauth_no_confirm": True,
    }
)

c.JupyterHub.custom_scopes.update(
    {
        BROKER_SCOPE: {
            "description": "Obtain short-lived AWS credentials for the token owner's own notebook server.",
        },
    }
)

c.JupyterHub.load_roles.extend(
    [
        # A server's token holds only scopes its owner holds, so people hold the scope (for themselves only) ...
        # People may also open the broker's "What can I access?" page (it shows each person only their own access).
        {
            "name": "user",
            "description": "Default permissions for users, plus their own AWS credentials and access page",
            "scopes": ["self", f"{BROKER_SCOPE}!user", f"access:services!service={BROKER_SERVICE_NAME}"],
        },
        # ... and their servers' tokens carry it.
        {
            "name": "server",
            "description": "Post activity, access the server, obtain the owner's AWS credentials",
            "scopes": ["users:activity!user", "access:servers!server", f"{BROKER_SCOPE}!user"],
        },
        # The broker reads who a person is, their eligible roles (auth_state) and their servers' role choice.
        {
            "name": "aws-credential-broker",
            "description": "The AWS credential broker service",
            "scopes": ["read:users", "read:servers", "admin:auth_state"],
            "services": [BROKER_SERVICE_NAME],
        },
    ]
)
