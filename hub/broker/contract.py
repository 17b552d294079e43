"""What the hub configuration, the spawner, the broker, the local stack, the Helm values and the tests agree on about
the credential broker service. Spelled here once; everything else imports it (tests check the Helm values against it).
"""

# The hub-managed service's name: its URL prefix on the hub, its JupyterHub role and its OAuth client follow from it.
SERVICE_NAME = "aws-credentials"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}/"
# The custom scope a token needs to obtain its owner's AWS credentials (held by people for themselves only).
ISSUE_SCOPE = f"custom:{SERVICE_NAME}:issue"
# The broker's port, next to the hub's 8081 (the hub Service exposes it to user servers on Kubernetes).
DEFAULT_PORT = 8181
# The server's role choice, as the spawner stores it in the server's user_options.
ROLE_OPTION = "aws_access_group"
# The customer-managed IAM policy, attached to every access role, that denies revoked people's sessions
# (hub/revocation/, Terraform's access-roles module): <deployment.role_name_prefix> + this.
REVOCATION_POLICY_SUFFIX = "revocations"
