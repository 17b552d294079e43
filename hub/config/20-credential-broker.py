# The AWS credential broker: a hub-managed JupyterHub service, the only component holding AWS permissions.
# Loaded by the local stack and, on Kubernetes, from jupyterhub_config.d, after the settings it reads:
#   c.CredentialBroker.*   where it listens and how it is reached, STS, caching (hub/broker/settings.py; Helm:
#                          hub.config.CredentialBroker); a bad value stops the hub here, at start-up
#   c.AccessPolicyFile.*   the access policy file (authenticator/policy_file.py), the same the authenticator reads
#   c.RevocationStore.path who is revoked (hub/revocation/store.py): default beside the hub's SQLite database, read
#                          by the broker and the authenticator
#   AWS_*                  the broker's own AWS identity and region: passed to the broker only, never to servers
#   c.NotebookJobs.*       scheduled runs (hub/jobs/settings.py): the job store, run limits; filled in here where unset
#   NOTEBOOK_SCHEDULER_TOKEN  the notebook scheduler's (Airflow's) hub token, when it runs (hub/jobs/scheduler_api.py)
#   c.AirflowApi.*, AIRFLOW_API_PASSWORD  how "Run now" reaches Airflow's API (hub/jobs/airflow_api.py); the
#                          password is passed to the broker only
# Notebook servers get the custom scope ISSUE_SCOPE on their own token: it lets the token's owner (and no one else)
# obtain their own credentials from the broker. A laptop token (the hub's page "Use AWS from your laptop",
# hub/laptop/) carries LAPTOP_SCOPE alone, for its owner: the broker serves it the owner's credentials for the access
# group its note names. A scheduled run gets a token of its owner with JOB_SCOPE alone (hub/jobs/).
import os
import sys

from jupyterhub.app import JupyterHub

from hub.broker.contract import (
    ISSUE_SCOPE,
    JOB_SCOPE,
    LAPTOP_SCOPE,
    RUN_JOBS_SCOPE,
    SCHEDULER_SERVICE_NAME,
    SCHEDULER_TOKEN_ENV,
    SERVICE_NAME,
)
from hub.broker.settings import CredentialBroker, process_environment
from hub.jobs.airflow_api import AirflowApi
from hub.jobs.settings import DB_FILE_NAME as JOBS_FILE_NAME
from hub.jobs.settings import NotebookJobs
from hub.revocation.store import FILE_NAME as REVOCATIONS_FILE_NAME
from hub.revocation.store import RevocationStore
from hub.spawn import BrokeredAWSMixin
from hub.state_files import beside_hub_database

_broker = CredentialBroker(config=c)
# The revocations and the job store: beside the hub's database unless set (the broker process and the authenticator
# must open the same files).
_hub_db = c.JupyterHub.db_url if "db_url" in c.JupyterHub else JupyterHub.db_url.default_value
if not RevocationStore(config=c).path:
    c.RevocationStore.path = beside_hub_database(_hub_db, REVOCATIONS_FILE_NAME, "RevocationStore.path", os.getcwd())
if not c.NotebookJobs.get("db_path"):
    c.NotebookJobs.db_path = beside_hub_database(_hub_db, JOBS_FILE_NAME, "NotebookJobs.db_path", os.getcwd())

# Scheduled runs reach the broker and AWS as notebook servers do.
_servers = BrokeredAWSMixin(config=c)
if "broker_url" not in c.NotebookJobs:
    c.NotebookJobs.broker_url = _servers.broker_url_for_servers or _servers.broker_url
if "aws_endpoint_url" not in c.NotebookJobs:
    c.NotebookJobs.aws_endpoint_url = _servers.aws_endpoint_url
NotebookJobs(config=c)  # a bad value stops the hub here
# "Run now" on the scheduled-runs page asks Airflow's API (hub/jobs/airflow_api.py); a bad value stops the hub here.
AirflowApi(config=c)

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
# The notebook scheduler (Airflow) runs on its own; its token may only start due runs (the broker decides).
_scheduler = {"name": SCHEDULER_SERVICE_NAME, "display": False}
if os.environ.get(SCHEDULER_TOKEN_ENV):
    _scheduler["api_token"] = os.environ[SCHEDULER_TOKEN_ENV]
c.JupyterHub.services.append(_scheduler)

c.JupyterHub.custom_scopes.update(
    {
        ISSUE_SCOPE: {
            "description": "Obtain short-lived AWS credentials for the token owner's own notebook server.",
        },
        LAPTOP_SCOPE: {
            "description": "Obtain the token owner's short-lived AWS credentials on their laptop, for the role the "
            "token was made for (the hub's page 'Use AWS from your laptop').",
        },
        JOB_SCOPE: {
            "description": "Obtain AWS credentials for one scheduled run of the token owner's job (a run's own token).",
        },
        RUN_JOBS_SCOPE: {
            "description": "Start the runs of people's jobs that are due, and report how they ended (the scheduler).",
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
                f"{JOB_SCOPE}!user",
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
        # laptop token's note and expiry; it makes and deletes scheduled runs' tokens (`tokens`, which includes
        # read:tokens; JupyterHub 5.5 gives a token only scopes its owner holds: people's JOB_SCOPE!user above, so
        # the broker needs no job scope itself); to revoke a person (hub/revocation) it stops their servers
        # (`servers`) and deletes all their hub tokens.
        {
            "name": "aws-credential-broker",
            "description": "The AWS credential broker service",
            "scopes": ["read:users", "read:servers", "admin:auth_state", "servers", "tokens"],
            "services": [SERVICE_NAME],
        },
        # The scheduler asks the broker to start due runs; it reads nothing of the hub's.
        {
            "name": SCHEDULER_SERVICE_NAME,
            "description": "The notebook scheduler (Airflow): starts people's due runs through the broker",
            "scopes": [RUN_JOBS_SCOPE],
            "services": [SCHEDULER_SERVICE_NAME],
        },
    ]
)
