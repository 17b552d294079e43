# The hub's page "Use AWS from your laptop" (hub/laptop/page.py, at /hub/aws-laptop, behind the hub's login): a person
# makes a hub token that can only fetch their AWS credentials for one role, and copies the AWS profile that uses it.
# Its settings are the broker's (c.CredentialBroker.laptop_token_max_days, laptop_token_default_days,
# laptop_profile_prefix; docs/configuration.md): the broker refuses a laptop token living longer than the same maximum.
# Which access groups allow it: `laptop_access` in the access policy (default true). Loaded by the local stack and, on
# Kubernetes, from jupyterhub_config.d.
from authenticator.policy_file import AccessPolicyFile
from hub.broker.settings import CredentialBroker
from hub.laptop.page import laptop_handlers

c.JupyterHub.extra_handlers.extend(laptop_handlers(AccessPolicyFile(config=c), CredentialBroker(config=c)))
