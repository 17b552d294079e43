# The AWS credential broker: a hub-managed JupyterHub service, the only component holding AWS permissions.
# Loaded by the local stack and, on Kubernetes, from jupyterhub_config.d, after the settings it reads:
#   c.CredentialBroker.*   where it listens and how it is reached, STS, caching (hub/broker/settings.py; Helm:
#                          hub.config.CredentialBroker); a bad value stops the hub here, at start-up
#   c.AccessPolicyFile.*   the access policy file (authenticator/policy_file.py), the same the authenticator reads
#   AWS_*                  the broker's own AWS identity and region: passed to the broker only, never to servers
# Notebook servers get the custom scope ISSUE_SCOPE on their own token: it lets the token's owner (and no one else)
# obtain their own credentials from the broker. A laptop token (the hub's page "Use AWS from your laptop",
# hub/laptop/) carries LAPTOP_SCOPE alone, for its owner: the broker serves it the owner's credentials for the access
# group its note names.
import os
import sys

from hub.broker.contract import ISSUE_SCOPE, LAPTOP_SCOPE, SERVICE_NAME
from hub.broker.settings import CredentialBroker, process_environment

_broker = CredentialBroker(config=c)

c.JupyterHub.services.append(
    {
        "name": SERVICE_NAME,
        "url": _broker.url,
        "command": [sys.executable, "-m", "hub.broker"],
        # What it needs, nothing else (a hub-managed service does not inherit the hub's environment).
        "environment": process_environment(os.environ, c),
        "display": False,
        # Its "What can I access?" page signs people in through the hub's OAuth; no extra consent page for it.
        "oauth_no_confirm": True,
    }
)

c.JupyterHub.custom_scopes.update(
    {
        ISSUE_SCOPE: {
            "description": "Obtain short-lived AWS credentials for the token owner's own notebook server.",
        },
        LAPTOP_SCOPE: {
            "description": "Obtain the token owner's short-lived AWS credentials on their laptop, for the role the "
            "token was made for (the hub's page 'Use AWS from your laptop').",
        },
    }
)

c.JupyterHub.load_roles.extend(
    [
        # A server's token holds only scopes its owner holds, so people hold the scope (for themselves only) ...
        # People may also open the broker's "What can I access?" page (it shows each person only their own access),
        # and hold the laptop scope for themselves, so that a token for their laptop can carry it.
        {
            "name": "user",
            "description": "Default permissions for users, plus their own AWS credentials and access page",
            "scopes": [
                "self",
                f"{ISSUE_SCOPE}!user",
                f"{LAPTOP_SCOPE}!user",
                f"access:services!service={SERVICE_NAME}",
            ],
        },
        # ... and their servers' tokens carry it for that server only (`!server`): the broker serves a server's own
        # token and refuses personal tokens (they inherit `!user`).
        {
            "name": "server",
            "description": "Post activity, access the server, obtain the owner's AWS credentials for this server",
            "scopes": ["users:activity!user", "access:servers!server", f"{ISSUE_SCOPE}!server"],
        },
        # The broker reads who a person is, their eligible roles (auth_state), their servers' role choice, and a
        # laptop token's note and expiry.
        {
            "name": "aws-credential-broker",
            "description": "The AWS credential broker service",
            "scopes": ["read:users", "read:servers", "admin:auth_state", "read:tokens"],
            "services": [SERVICE_NAME],
        },
    ]
)
