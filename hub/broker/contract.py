"""What the hub configuration, the spawner, the broker, the local stack, the Helm values and the tests agree on about
the credential broker service. Spelled here once; everything else imports it (tests check the Helm values against it).
"""

# The hub-managed service's name: its URL prefix on the hub, its JupyterHub role and its OAuth client follow from it.
SERVICE_NAME = "aws-credentials"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}/"
# The broker's scheduled-runs page for people (issue 13), under SERVICE_PREFIX; the hub's home page links to it.
JOBS_PAGE_PATH = "jobs"
# The custom scope a token needs to obtain its owner's AWS credentials (held by people for themselves only).
ISSUE_SCOPE = f"custom:{SERVICE_NAME}:issue"
# The broker's port, next to the hub's 8081 (the hub Service exposes it to user servers on Kubernetes).
DEFAULT_PORT = 8181
# The server's role choice, as the spawner stores it in the server's user_options.
ROLE_OPTION = "aws_access_group"
# Tokens for purposes other than a server (each the only scope of its token, held by people for themselves only):
# a laptop's AWS profile (issue 14; the token's note names the access group) and one scheduled run (issue 13).
LAPTOP_SCOPE = f"custom:{SERVICE_NAME}:laptop"
LAPTOP_NOTE_PREFIX = "aws-laptop:"
JOB_SCOPE = f"custom:{SERVICE_NAME}:job"
# The scheduler (Airflow) is the hub service SCHEDULER_SERVICE_NAME; its token's scope lets it only start due runs.
SCHEDULER_SERVICE_NAME = "notebook-scheduler"
RUN_JOBS_SCOPE = f"custom:{SERVICE_NAME}:run-jobs"
# The hub's page that makes a laptop token (under the hub's prefix: /hub/aws-laptop), and the header the credential
# helper sends in laptop mode, so that a refusal of a token the hub no longer knows tells a laptop what to do (the
# broker cannot look up a token the hub has forgotten; only the wording depends on it).
LAPTOP_PAGE_PATH = "aws-laptop"
LAPTOP_PAGE_TITLE = "Use AWS from your laptop"
CLIENT_HEADER = "X-AWS-Credentials-Client"
LAPTOP_CLIENT = "laptop"
# Every token may identify its owner: JupyterHub adds these scopes (filtered to the owner) to any token's scopes.
IDENTIFY_SCOPES = ("read:users:name", "read:users:groups")


def purpose_scope(scopes) -> str | None:
    """LAPTOP_SCOPE or JOB_SCOPE when that is a token's only scope besides identifying its owner (whatever the
    filter: the hub stores ``!user``, its API answers ``!user=<name>``), else None. Such a token serves one purpose and
    has no Entra sign-in behind it."""
    names = {scope.split("!", 1)[0] for scope in scopes} - set(IDENTIFY_SCOPES)
    return next(iter(names)) if len(names) == 1 and names <= {LAPTOP_SCOPE, JOB_SCOPE} else None


# Scheduled notebook runs (issue 13). Airflow (scheduler/) talks to the broker with one hub service token, read from
# the first variable; the second names the broker's base URL as Airflow reaches it.
SCHEDULER_TOKEN_ENV = "NOTEBOOK_SCHEDULER_TOKEN"  # noqa: S105 - a variable name, not a secret
SCHEDULER_BROKER_URL_ENV = "NOTEBOOK_SCHEDULER_BROKER_URL"
# The broker's scheduler API, relative to its base URL.
SCHEDULER_JOBS_PATH = "v1/scheduler/jobs"
SCHEDULER_RUNS_PATH = "v1/scheduler/runs"
# A job's Airflow DAG id is this prefix and the job id; "Run now" triggers that DAG.
JOB_DAG_PREFIX = "notebook-job-"
