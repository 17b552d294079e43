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

# Scheduled notebook runs (issue 13). Airflow (scheduler/) talks to the broker with one hub service token, read from
# the first variable; the second names the broker's base URL as Airflow reaches it.
SCHEDULER_TOKEN_ENV = "NOTEBOOK_SCHEDULER_TOKEN"  # noqa: S105 - a variable name, not a secret
SCHEDULER_BROKER_URL_ENV = "NOTEBOOK_SCHEDULER_BROKER_URL"
# The broker's scheduler API, relative to its base URL.
SCHEDULER_JOBS_PATH = "v1/scheduler/jobs"
SCHEDULER_RUNS_PATH = "v1/scheduler/runs"
# A job's Airflow DAG id is this prefix and the job id; "Run now" triggers that DAG.
JOB_DAG_PREFIX = "notebook-job-"
