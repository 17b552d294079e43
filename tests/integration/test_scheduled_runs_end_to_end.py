"""Scheduled runs with every real part at once: Airflow's own scheduler (scheduler/), the hub and its real broker with
the job store (hub/jobs/), the Entra ID emulator deciding membership, papermill and a kernel, moto as AWS.

The other tests take one side each (test_scheduled_runs.py: Airflow against a stand-in of the broker's contract;
test_scheduler_api.py: the broker's API driven by HTTP). This one checks that the two sides agree: a job is due, the
scheduler starts it with nobody signed in, the run gets its owner's job credentials from the broker, the executed
notebook lands in the owner's home; the owner then leaves every access group, and the next tick fails with that
reason and no credentials.
"""

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import boto3
import nbformat
import pytest

from authenticator.access_policy import load_access_policy
from hub.jobs.store import FAILED, SUCCESS, JobStore
from scheduler.local_airflow import AIRFLOW_VENV, AirflowSettings, LocalAirflow
from tests.fixtures.jupyterhub import BUCKET, sign_in_through_entra, start_entra_hub, stop_hub
from tests.fixtures.servers import free_port
from tests.fixtures.tools import missing_tool

pytestmark = pytest.mark.integration

SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"  # the emulator's group in no access group
# A minute for the tick, plus Airflow's parse and a papermill run on a loaded two-core machine.
RUN_TIMEOUT_SECONDS = 240
NOTEBOOK_CELLS = [
    'import json\nimport boto3\nprint(json.dumps({"arn": boto3.client("sts").get_caller_identity()["Arn"]}))',
]


def notebook() -> bytes:
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(book).encode()


def printed_arn(executed: bytes) -> str:
    for output in json.loads(executed)["cells"][0].get("outputs", []):
        if output.get("output_type") == "stream":
            return json.loads("".join(output["text"]))["arn"]
    raise AssertionError("the notebook's cell printed nothing")


@pytest.fixture(scope="module")
def hub(entra_emulator, hub_moto, tmp_path_factory):
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        missing_tool("Airflow's virtualenv (.venv-airflow)", "run `make airflow-venv`")
    token = secrets.token_hex(32)
    hub = start_entra_hub(
        entra_emulator, hub_moto, tmp_path_factory.mktemp("e2e-jobs-hub"), extra_env={"NOTEBOOK_SCHEDULER_TOKEN": token}
    )
    hub.scheduler_token = token
    hub.store = JobStore(str(hub.state / "notebook-jobs.sqlite"))
    yield hub
    hub.store.close()
    stop_hub(hub)


def next_finished_run(store: JobStore, job_id: str, after: datetime):
    """The first run asked for after ``after`` (a tick's run, started by the scheduler), once it has finished."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = sorted((r for r in store.runs(job_id) if r.requested_at > after), key=lambda r: r.requested_at)
        if runs and runs[0].state in (SUCCESS, FAILED):
            return runs[0]
        time.sleep(2)
    raise AssertionError(
        f"no run asked for after {after} finished within {RUN_TIMEOUT_SECONDS} s: {store.runs(job_id)}"
    )


def test_the_scheduler_runs_a_due_job_with_its_owners_credentials_until_the_owner_leaves_the_group(
    hub, entra_emulator_reset, hub_moto, tmp_path
):
    emulator = entra_emulator_reset
    sign_in_through_entra(hub, emulator, "sam@contoso.example")  # once, weeks ago as far as the runs care
    s3 = boto3.client(
        "s3", endpoint_url=hub_moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    s3.put_object(Bucket=BUCKET, Key="home/sam/reports/e2e.ipynb", Body=notebook())
    job = hub.store.create_job(
        owner="sam",
        name="Every minute",
        notebook_key="reports/e2e.ipynb",
        schedule="* * * * *",
        access_group="analysts",
        parameters={},
    )
    role = load_access_policy(hub.state / "access-policy.yaml").group("analysts").role_arn.split("/")[-1]
    airflow = LocalAirflow(AirflowSettings(tmp_path / "airflow", free_port(), hub.broker_url(), hub.scheduler_token))
    try:
        airflow.migrate()
        airflow.start()

        # Due every minute: the scheduler starts it on a tick, with nobody signed in and no one asking.
        first = next_finished_run(hub.store, job.id, after=datetime.now(UTC) - timedelta(minutes=5))
        assert (first.state, first.reason, first.request_id) == (SUCCESS, None, None), first
        assert first.airflow_run_id.startswith("scheduled__") and first.logical_date is not None
        output = f"home/sam/runs/{job.id}/{first.id}/output.ipynb"
        executed = s3.get_object(Bucket=BUCKET, Key=output)["Body"].read()
        assert printed_arn(executed) == f"arn:aws:sts::123456789012:assumed-role/{role}/sam-job-{job.id}"
        assert hub.sts.assume_role_calls(f"sam-job-{job.id}"), "the run's credentials came from the broker's STS call"

        # Out of every access group: the next tick's run fails with that reason, and gets no credentials.
        emulator.set_groups("sam@contoso.example", [SALES])
        changed = datetime.now(UTC)
        time.sleep(1.1)  # the hub re-checks membership at most every auth_refresh_age (1 s in the tests' hub)
        calls_before = len(hub.sts.assume_role_calls(f"sam-job-{job.id}"))
        failed = next_finished_run(hub.store, job.id, after=changed)
    finally:
        airflow.stop()
    assert failed.state == FAILED
    assert failed.reason == (
        "sam is no longer in any Entra ID group that grants an AWS role, so no credentials were issued for the job "
        "'Every minute'. They can ask to be added to one again."
    )
    assert len(hub.sts.assume_role_calls(f"sam-job-{job.id}")) == calls_before
    assert not [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"home/sam/runs/{job.id}/{failed.id}/").get("Contents", [])
    ]
