""" "Run now" against a real Airflow 3 (``scheduler/local_airflow.py``: API server, scheduler, dag-processor, the job
DAGs of ``scheduler/dags``): the hub's client signs in at ``/auth/token`` as its own Airflow account (role ``user`` of
the simple auth manager, which may trigger DAG runs) and triggers the job's DAG with the request id in its conf.

The job list comes from the scheduler contract's stand-in (tests/fixtures/scheduler_broker.py), which refuses to start
the runs (the test is about the trigger, not the run): Airflow runs nothing heavy.

ref: https://airflow.apache.org/docs/apache-airflow/3.0.1/security/api.html (JWT from /auth/token, Bearer header)
ref: https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/auth-manager/simple/token.html
"""

import json
import time

import pytest
import requests

from hub.jobs.airflow_api import AirflowClient, AirflowUnavailable, dag_id, dag_run_id, resend_queued
from hub.jobs.store import QUEUED, JobStore
from scheduler.local_airflow import AIRFLOW_VENV, AirflowSettings, LocalAirflow
from tests.fixtures.scheduler_broker import SchedulerBrokerStandIn, StandInJob
from tests.fixtures.servers import free_port
from tests.fixtures.tools import missing_tool

pytestmark = pytest.mark.integration

HUB_ACCOUNT, HUB_PASSWORD = "notebook-hub", "the-hubs-airflow-password"
JOB_ID = "triggerjob"
TOKEN_SECONDS = 5
STILL_QUEUED = "Your run request is kept and will be sent again; nothing has started yet."


@pytest.fixture(scope="module")
def broker(moto_endpoint):
    with SchedulerBrokerStandIn(moto_endpoint, "us-east-1", {"AccessKeyId": "x", "SecretAccessKey": "x"}) as stand_in:
        job = StandInJob(JOB_ID, "sam", "Daily sales", "0 3 * * *", "analysts", "notebooks", "home/sam/a.ipynb")
        job.refuse_start = (409, "job-paused", "The test refuses every start.")
        stand_in.jobs[JOB_ID] = job
        yield stand_in


@pytest.fixture(scope="module")
def airflow(broker, tmp_path_factory):
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        missing_tool("Airflow's virtualenv (.venv-airflow)", "run `make airflow-venv`")
    local = LocalAirflow(
        AirflowSettings(tmp_path_factory.mktemp("airflow"), free_port(), broker.url, broker.service_token)
    )
    # The hub's own Airflow account, beside the UI's admin: role "user" (may trigger DAG runs, nothing of Airflow's
    # configuration).
    local.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"admin:admin,{HUB_ACCOUNT}:user"
    # Airflow's API tokens expire after this many seconds (default 86400): the client's kept token expires in a test.
    local.env["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"] = str(TOKEN_SECONDS)
    local.env["AIRFLOW__API_AUTH__JWT_LEEWAY"] = "0"  # expired means expired (default: 10 s of grace)
    local.migrate()
    passwords = json.loads(local.settings.passwords_file.read_text())
    local.settings.passwords_file.write_text(json.dumps({**passwords, HUB_ACCOUNT: HUB_PASSWORD}))
    try:
        local.start()
        wait_for_dag(local, JOB_ID)
        yield local
    finally:
        local.stop()


def wait_for_dag(local: LocalAirflow, job_id: str) -> None:
    deadline = time.monotonic() + 180
    while api(local, "GET", f"/api/v2/dags/{dag_id(job_id)}").status_code != 200:
        assert time.monotonic() < deadline, f"the DAG of job {job_id} did not appear in Airflow within 180 s"
        time.sleep(2)


def admin_token(local: LocalAirflow) -> str:
    answer = requests.post(
        f"{local.settings.api_url}/auth/token",
        json={"username": "admin", "password": local.secrets.admin_password},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def api(local: LocalAirflow, method: str, path: str) -> requests.Response:
    """Airflow's API as its admin (a new token each time: they expire after TOKEN_SECONDS here)."""
    headers = {"Authorization": f"Bearer {admin_token(local)}"}
    return requests.request(method, f"{local.settings.api_url}{path}", headers=headers, timeout=30)


async def test_run_now_triggers_the_jobs_dag_once_with_the_request_id(airflow, broker):
    client = AirflowClient(airflow.settings.api_url, HUB_ACCOUNT, HUB_PASSWORD, timeout=30)
    request_id = broker.ask_for_run(JOB_ID)
    await client.trigger(JOB_ID, request_id, "Run now by sam")
    run = api(airflow, "GET", f"/api/v2/dags/{dag_id(JOB_ID)}/dagRuns/{dag_run_id(request_id)}")
    assert run.status_code == 200, run.text
    assert run.json()["conf"] == {"request_id": request_id}
    assert run.json()["note"] == "Run now by sam"
    assert run.json()["run_type"] == "manual"

    # Sent again (a retry after a timeout, or the resend of a queued request): Airflow already has it, no second
    # run (the scheduled run of the schedule's latest tick may be there too).
    await client.trigger(JOB_ID, request_id, "Run now by sam (sent again)")
    runs = api(airflow, "GET", f"/api/v2/dags/{dag_id(JOB_ID)}/dagRuns").json()["dag_runs"]
    assert [r["dag_run_id"] for r in runs if r["run_type"] == "manual"] == [dag_run_id(request_id)]


async def test_an_expired_or_foreign_airflow_token_is_replaced_once(airflow, broker):
    client = AirflowClient(airflow.settings.api_url, HUB_ACCOUNT, HUB_PASSWORD, timeout=30)
    await client.trigger(JOB_ID, broker.ask_for_run(JOB_ID), "Run now by sam")
    kept = client._token
    time.sleep(TOKEN_SECONDS + 1)  # the kept token expires (Airflow answers 401 "Token Expired")
    request_id = broker.ask_for_run(JOB_ID)
    await client.trigger(JOB_ID, request_id, "Run now by sam")
    assert client._token != kept
    run = api(airflow, "GET", f"/api/v2/dags/{dag_id(JOB_ID)}/dagRuns/{dag_run_id(request_id)}")
    assert run.status_code == 200, run.text

    # A token Airflow does not accept (signed with another secret, as after Airflow restarted with a new one: 403)
    client._token = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJvbGQifQ.not-a-valid-signature"
    request_id = broker.ask_for_run(JOB_ID)
    await client.trigger(JOB_ID, request_id, "Run now by sam")
    run = api(airflow, "GET", f"/api/v2/dags/{dag_id(JOB_ID)}/dagRuns/{dag_run_id(request_id)}")
    assert run.status_code == 200, run.text


async def test_a_job_airflow_does_not_know_yet_is_said_in_words(airflow):
    client = AirflowClient(airflow.settings.api_url, HUB_ACCOUNT, HUB_PASSWORD, timeout=30)
    with pytest.raises(AirflowUnavailable) as refused:
        await client.trigger("notknown00", "0123abcd", "Run now by sam")
    assert refused.value.message == (
        "Airflow has not loaded this job yet (new and changed jobs reach it within a minute or two). " + STILL_QUEUED
    )


async def test_a_wrong_airflow_password_is_said_without_the_password(airflow):
    client = AirflowClient(airflow.settings.api_url, HUB_ACCOUNT, "not-the-password", timeout=30)
    with pytest.raises(AirflowUnavailable) as refused:
        await client.trigger(JOB_ID, "0123abcd", "Run now by sam")
    assert refused.value.message == (
        f"Airflow refused the hub's account, so the run could not be started. {STILL_QUEUED} Tell your administrator."
    )


async def test_an_airflow_that_does_not_answer_is_said_in_words():
    client = AirflowClient(f"http://127.0.0.1:{free_port()}", HUB_ACCOUNT, HUB_PASSWORD, timeout=5)
    with pytest.raises(AirflowUnavailable) as refused:
        await client.trigger(JOB_ID, "0123abcd", "Run now by sam")
    assert refused.value.message == f"Airflow, which runs the jobs, did not answer. {STILL_QUEUED}"


async def test_a_queued_request_is_sent_again_until_airflow_has_it(airflow, broker, tmp_path):
    store = JobStore(str(tmp_path / "notebook-jobs.sqlite"))
    job = store.create_job(
        owner="sam", name="Queued", notebook_key="a.ipynb", schedule="0 3 * * *", access_group="analysts", parameters={}
    )
    stand_in = StandInJob(job.id, "sam", "Queued", "0 3 * * *", "analysts", "notebooks", "home/sam/a.ipynb")
    stand_in.refuse_start = (409, "job-paused", "The test refuses every start.")
    broker.jobs[job.id] = stand_in
    wait_for_dag(airflow, job.id)
    queued = store.request_run(job.id, requested_by="sam")
    paused = store.create_job(
        owner="sam", name="Paused", notebook_key="a.ipynb", schedule="0 3 * * *", access_group="analysts", parameters={}
    )
    store.request_run(paused.id, requested_by="sam")
    store.set_paused(paused.id, True, "Paused by sam.")  # its request is closed, never sent
    # A job Airflow has no DAG for (yet), listed before the others: its request waits, the others' go through.
    unknown = store.create_job(
        owner="sam",
        name="A new job",
        notebook_key="a.ipynb",
        schedule="0 3 * * *",
        access_group="analysts",
        parameters={},
    )
    waiting = store.request_run(unknown.id, requested_by="sam")

    nobody = AirflowClient(f"http://127.0.0.1:{free_port()}", HUB_ACCOUNT, HUB_PASSWORD, timeout=5)
    assert await resend_queued(store, nobody) == 0
    assert store.run(queued.id).state == QUEUED

    client = AirflowClient(airflow.settings.api_url, HUB_ACCOUNT, HUB_PASSWORD, timeout=30)
    assert await resend_queued(store, client) == 1, "the unknown job's request is not sent, the paused one is closed"
    assert store.run(waiting.id).state == QUEUED
    run = api(airflow, "GET", f"/api/v2/dags/{dag_id(job.id)}/dagRuns/{dag_run_id(queued.request_id)}")
    assert run.status_code == 200 and run.json()["conf"] == {"request_id": queued.request_id}
    assert await resend_queued(store, client) == 1, "still queued at the broker: asked again, Airflow already has it"
    runs = api(airflow, "GET", f"/api/v2/dags/{dag_id(job.id)}/dagRuns").json()["dag_runs"]
    assert [r["dag_run_id"] for r in runs if r["run_type"] == "manual"] == [dag_run_id(queued.request_id)]
    store.close()
