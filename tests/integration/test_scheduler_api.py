"""Scheduled runs, hub side, in a real JupyterHub with the real broker, moto behind the recording STS endpoint, and
(for membership) the Entra ID emulator: the scheduler's API as the Airflow side calls it, the run tokens the broker
makes, and what those tokens obtain.

Jobs are written into the broker's job store file by the test (the job pages are another part); everything else goes
through HTTP as the scheduler and a run's credential helper use it.
"""

import asyncio
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import requests

from authenticator.policy_file import AccessPolicyFile
from hub.broker.errors import Refusal
from hub.broker.service import HubClient
from hub.jobs.runs import JobRuns
from hub.jobs.scheduling import StartRequest
from hub.jobs.settings import NotebookJobs
from hub.jobs.store import FAILED, QUEUED, RUNNING, SUCCESS, JobStore
from tests.fixtures.jupyterhub import BUCKET, person, sign_in_through_entra, start_entra_hub, start_hub, stop_hub

pytestmark = pytest.mark.integration

JOB_SCOPE = "custom:aws-credentials:job"
SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"  # the emulator's group in no access group
DATA_ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"


# ---- fixtures and helpers -------------------------------------------------------------------------------------------


def with_scheduler(start, *args, **kwargs):
    """A hub whose notebook-scheduler service has a token (as the local stack gives Airflow one)."""
    token = secrets.token_hex(32)
    extra_env = {**kwargs.pop("extra_env", {}), "NOTEBOOK_SCHEDULER_TOKEN": token}
    hub = start(*args, extra_env=extra_env, **kwargs)
    hub.scheduler_token = token
    hub.store = JobStore(str(hub.state / "notebook-jobs.sqlite"))
    return hub


def stop_with_store(hub):
    hub.store.close()
    stop_hub(hub)


@pytest.fixture(scope="module")
def jobs_hub(hub_moto, tmp_path_factory):
    hub = with_scheduler(start_hub, tmp_path_factory.mktemp("jobs-hub"), hub_moto)
    yield hub
    stop_with_store(hub)


@pytest.fixture(scope="module")
def jobs_entra_hub(entra_emulator, hub_moto, tmp_path_factory):
    hub = with_scheduler(start_entra_hub, entra_emulator, hub_moto, tmp_path_factory.mktemp("jobs-entra-hub"))
    yield hub
    stop_with_store(hub)


def scheduler(hub, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"token {token or hub.scheduler_token}"}
    return requests.request(method, f"{hub.broker_url()}v1/scheduler/{path}", headers=headers, timeout=60, **kwargs)


def this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def start_run(hub, job_id: str, tick: datetime | None = None, request_id: str | None = None, token=None, **extra):
    body = {
        "job_id": job_id,
        "airflow_run_id": extra.pop("airflow_run_id", f"scheduled__{secrets.token_hex(4)}"),
        "logical_date": iso(tick) if tick else None,
        "request_id": request_id,
    }
    return scheduler(hub, "POST", "runs", token=token, json=body)


def new_person(hub, name: str, *groups: str) -> None:
    hub.add_people({name: person(*groups)})
    hub.login(name)


def new_job(hub, owner: str, **changes):
    values = {
        "owner": owner,
        "name": "Daily report",
        "notebook_key": "reports/daily.ipynb",
        "schedule": "* * * * *",
        "access_group": "analysts",
        "parameters": {"days": 7},
        **changes,
    }
    return hub.store.create_job(**values)


def run_tokens(hub, name: str) -> list[dict]:
    """The person's hub tokens that the broker made for runs (the hub's own token list)."""
    tokens = hub.api_request("GET", f"/users/{name}/tokens").json()["api_tokens"]
    return [t for t in tokens if (t.get("note") or "").startswith("aws-job:")]


def credentials(url: str, token: str) -> requests.Response:
    return requests.get(f"{url}v1/credentials", headers={"Authorization": f"token {token}"}, timeout=60)


def issued_total(hub) -> float:
    """The broker's issued-credentials counter, all sources and groups."""
    text = requests.get(
        f"{hub.broker_url()}metrics", headers={"Authorization": f"token {hub.admin_token}"}, timeout=30
    ).text
    return sum(float(v) for v in re.findall(r"^aws_broker_credentials_issued_total\{[^}]*\} (\S+)$", text, re.M))


def refused(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["message"]


def job_runs(hub, method: str, *args, is_revoked=lambda owner: False, **kwargs):
    """One of the broker's job operations (the pages' calls), made in this process on the same store and the same
    hub, with a token holding `tokens` as the broker's does."""

    async def call():
        policy = AccessPolicyFile(path=str(hub.state / "access-policy.yaml"))
        hub_client = HubClient(hub.api, hub.admin_token, 30)
        jobs = JobRuns(hub.store, hub_client, policy, NotebookJobs(), is_revoked=is_revoked)
        result = getattr(jobs, method)(*args, **kwargs)
        return await result if asyncio.iscoroutine(result) else result

    return asyncio.run(call())


# ---- the scheduler's view -------------------------------------------------------------------------------------------


def test_the_scheduler_lists_jobs_without_their_parameters(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jl-sam", "analysts")
    active = new_job(hub, "jl-sam", name="Active", schedule="30 6 * * 1-5")
    paused = new_job(hub, "jl-sam", name="Paused")
    hub.store.set_paused(paused.id, True, "paused")

    answer = scheduler(hub, "GET", "jobs")
    assert answer.status_code == 200, answer.text
    listed = {job["id"]: job for job in answer.json()["jobs"]}
    assert listed[active.id] == {
        "id": active.id,
        "owner": "jl-sam",
        "name": "Active",
        "schedule": "30 6 * * 1-5",
        "paused": False,
    }
    assert listed[paused.id] == {"id": paused.id, "owner": "jl-sam", "name": "Paused", "schedule": None, "paused": True}


NOT_THE_SCHEDULER = (
    "Only the notebook scheduler's hub token (service 'notebook-scheduler', scope 'custom:aws-credentials:run-jobs') "
    "may start or finish scheduled runs."
)
FORGED = "This is not a valid hub token: the scheduler sends its hub service token (NOTEBOOK_SCHEDULER_TOKEN)."


def test_only_the_scheduler_token_is_answered(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jf-amy", "analysts")
    job = new_job(hub, "jf-amy")
    personal = hub.api_request("POST", "/users/jf-amy/tokens", json={"note": "mine"}).json()["token"]
    job_scoped = hub.api_request(
        "POST", "/users/jf-amy/tokens", json={"scopes": [f"{JOB_SCOPE}!user=jf-amy"], "note": "aws-job:forged"}
    ).json()["token"]
    for token, message in (
        (secrets.token_hex(32), FORGED),  # forged
        (hub.admin_token, NOT_THE_SCHEDULER),  # another service, even a powerful one
        (personal, NOT_THE_SCHEDULER),  # a person
        (job_scoped, NOT_THE_SCHEDULER),  # a person's token for a run
    ):
        assert refused(scheduler(hub, "GET", "jobs", token=token), 403) == message
        assert refused(start_run(hub, job.id, this_minute(), token=token), 403) == message
    assert hub.store.runs(job.id) == []
    assert [t["note"] for t in run_tokens(hub, "jf-amy")] == ["aws-job:forged"]  # the broker made none
    assert hub.sts.assume_role_calls(f"jf-amy-job-{job.id}") == []


# ---- a run from start to finish --------------------------------------------------------------------------------------


def test_a_due_run_gets_job_credentials_until_it_finishes(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jr-sam", "analysts", "data-engineers")
    job = new_job(hub, "jr-sam", access_group="data-engineers", parameters={"days": 7, "region": "eu"})
    tick = this_minute()

    answer = start_run(hub, job.id, tick, airflow_run_id="scheduled__one")
    assert answer.status_code == 200, answer.text
    started = answer.json()
    run_id, token = started.pop("run_id"), started.pop("token")
    broker_url = started.pop("broker_url")
    assert re.fullmatch(r"[a-z0-9]{10}", run_id)
    assert started == {
        "owner": "jr-sam",
        "session_name": f"jr-sam-job-{job.id}",
        "bucket": BUCKET,
        "notebook_key": "home/jr-sam/reports/daily.ipynb",
        "notebook_version": None,
        "parameters": {"days": 7, "region": "eu"},
        "output_prefix": f"home/jr-sam/runs/{job.id}/{run_id}/",
        "region": "us-east-1",
        "s3_endpoint_url": hub.moto,
    }
    assert broker_url.endswith("/services/aws-credentials/")
    assert token not in hub.log()  # never logged

    # The run's token: the owner's, the job scope only, expiring with the longest run, named after the run.
    (model,) = run_tokens(hub, "jr-sam")
    assert model["note"] == f"aws-job:{run_id}"
    # (JupyterHub adds to every token the scopes that let it say whose it is)
    assert sorted(model["scopes"]) == [
        f"{JOB_SCOPE}!user=jr-sam",
        "read:users:groups!user=jr-sam",
        "read:users:name!user=jr-sam",
    ]
    expires = datetime.fromisoformat(model["expires_at"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(model["created"].replace("Z", "+00:00"))
    assert (expires - created).total_seconds() == pytest.approx(NotebookJobs().max_run_seconds, abs=5)
    run = hub.store.run(run_id)
    assert (run.state, run.token_id, run.logical_date, run.airflow_run_id, run.parameters) == (
        RUNNING,
        model["id"],
        tick,
        "scheduled__one",
        {"days": 7, "region": "eu"},
    )

    # The run's credential helper gets the owner's credentials for the job's role, in a session named after the job.
    issued = credentials(broker_url, token)
    assert issued.status_code == 200, issued.text
    assert hub.caller_arn(issued.json()) == (
        f"arn:aws:sts::123456789012:assumed-role/jupyterhub-data-engineer/jr-sam-job-{job.id}"
    )
    (call,) = hub.sts.assume_role_calls(f"jr-sam-job-{job.id}")
    assert call["RoleArn"] == "arn:aws:iam::123456789012:role/jupyterhub-data-engineer"
    assert call["SourceIdentity"] == hub.people["jr-sam"]["oid"]
    tags = {call[f"Tags.member.{i}.Key"]: call[f"Tags.member.{i}.Value"] for i in (1, 2, 3)}
    assert tags == {"user": "jr-sam", "access-group": "data-engineers", "job": job.id}
    assert {call[f"TransitiveTagKeys.member.{i}"] for i in (1, 2, 3)} == {"user", "access-group", "job"}
    policy = json.loads(call["Policy"])  # the same session policy as the owner's servers: their own home
    assert f"arn:aws:s3:::{BUCKET}/home/jr-sam/*" in policy["Statement"][1]["Resource"]
    assert re.search(
        rf"issued user=jr-sam oid=\S+ access_group=data-engineers role=\S+ session=jr-sam-job-{job.id} .* kind=job\n",
        hub.log(),
    )
    assert issued.json()["SecretAccessKey"] not in hub.log()

    # Finishing ends the run and deletes its token at once.
    finished = scheduler(
        hub, "POST", f"runs/{run_id}/finish", json={"state": "success", "reason": None, "notebook_version": "v1"}
    )
    assert finished.status_code == 200, finished.text
    assert finished.json() == {"run_id": run_id, "state": "success"}
    assert run_tokens(hub, "jr-sam") == []
    run = hub.store.run(run_id)
    assert (run.state, run.notebook_version) == (SUCCESS, "v1") and run.finished_at is not None
    assert refused(credentials(broker_url, token), 403) == (
        "This scheduled run of the job 'Daily report' has ended (success: finished): its token no longer obtains "
        "credentials."
    )
    assert refused(scheduler(hub, "POST", f"runs/{run_id}/finish", json={"state": "failed", "reason": "x"}), 409) == (
        f"The run {run_id} is not running (it is success): it finished before, or was closed when its job was paused "
        "or deleted."
    )
    assert len(hub.sts.assume_role_calls(f"jr-sam-job-{job.id}")) == 1


def test_a_replayed_start_is_refused_and_recorded(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jp-ana", "analysts")
    job = new_job(hub, "jp-ana")
    tick = this_minute()
    first = start_run(hub, job.id, tick, airflow_run_id="scheduled__a")
    assert first.status_code == 200, first.text
    for airflow_run_id in ("scheduled__a", "scheduled__b"):  # the same request again, or another run of the tick
        assert refused(start_run(hub, job.id, tick, airflow_run_id=airflow_run_id), 409) == (
            f"The run of the tick {iso(tick)} of the job 'Daily report' was started before: each tick runs once."
        )
    assert len(run_tokens(hub, "jp-ana")) == 1  # no second token
    runs = hub.store.runs(job.id)
    assert [r.state for r in runs].count(RUNNING) == 1
    assert [(r.state, r.reason) for r in runs if r.state != RUNNING] == [
        (FAILED, f"The run of the tick {iso(tick)} of the job 'Daily report' was started before: each tick runs once.")
    ] * 2


# ---- starts that are not due ----------------------------------------------------------------------------------------


def test_runs_that_are_not_due_are_refused(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jd-lee", "analysts")
    job = new_job(hub, "jd-lee", schedule="* * * * *")
    yearly = new_job(hub, "jd-lee", name="New year", schedule="0 0 1 1 *")
    now = this_minute()
    before_creation = job.created_at.replace(second=0, microsecond=0) - timedelta(minutes=1)
    cases = [
        (yearly, now, f"{iso(now)} is not a tick of the job's schedule ('0 0 1 1 *', UTC): the scheduler may start "
         "only runs that are due."),
        (job, now + timedelta(minutes=10), f"The tick {iso(now + timedelta(minutes=10))} is in the future: a run "
         "starts at its tick, not before."),
        (job, None, "This start names neither a tick of the job's schedule nor a Run now request: a scheduled run "
         "gives its logical date, a manual one the request id the hub gave it."),
    ]  # fmt: skip
    for target, tick, message in cases:
        assert refused(start_run(hub, target.id, tick), 409) == message
        assert hub.store.runs(target.id)[0].reason == message  # recorded: the page says why
    # A tick before the job existed (Airflow asks for the latest past tick of a new DAG at once): refused, and no run
    # of the job is recorded, so a new job's page shows no failed run.
    recorded = len(hub.store.runs(job.id))
    assert refused(start_run(hub, job.id, before_creation), 409) == (
        f"The tick {iso(before_creation)} is before the job was created "
        f"({job.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}): only later ticks run."
    )
    assert len(hub.store.runs(job.id)) == recorded
    # A tick after the job was created but too long ago (Airflow was down): skipped, and recorded as such.
    past = JobStore(str(hub.state / "notebook-jobs.sqlite"), clock=lambda: datetime.now(UTC) - timedelta(hours=3))
    job = past.create_job(
        owner="jd-lee",
        name="Made three hours ago",
        notebook_key="reports/daily.ipynb",
        schedule="* * * * *",
        access_group="analysts",
        parameters={},
    )
    past.close()
    old = now - timedelta(hours=2)
    message = refused(start_run(hub, job.id, old), 409)
    age = re.fullmatch(
        rf"The tick {iso(old)} is (\d+) seconds old; a run starts at most 3600 seconds after its tick "
        r"\(NotebookJobs.max_start_delay_seconds\): this one is skipped, the next tick runs.",
        message,
    )
    assert age and 7200 <= int(age.group(1)) < 7200 + 120, message
    assert run_tokens(hub, "jd-lee") == []
    assert all(r.state == FAILED for r in hub.store.runs(job.id) + hub.store.runs(yearly.id))


def test_a_paused_or_deleted_job_does_not_start(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jz-kim", "analysts")
    job = new_job(hub, "jz-kim")
    hub.store.set_paused(job.id, True, "paused")
    assert refused(start_run(hub, job.id, this_minute()), 409) == (
        "The job 'Daily report' of jz-kim is paused: no run starts until its owner resumes it."
    )
    hub.store.delete_job(job.id, "deleted")
    assert refused(start_run(hub, job.id, this_minute()), 404) == (
        f"There is no job {job.id!r}: it was deleted, or never existed."
    )
    assert refused(start_run(hub, "nosuchjob0", this_minute()), 404) == (
        "There is no job 'nosuchjob0': it was deleted, or never existed."
    )
    assert run_tokens(hub, "jz-kim") == []


def test_bad_requests_are_refused_naming_the_field(jobs_hub):
    hub = jobs_hub
    cases = [
        ({"job_id": "x", "airflow_run_id": "r", "logical_date": "yesterday"},
         "'logical_date' must be an ISO 8601 time with its zone, e.g. 2026-11-29T07:00:00Z (got 'yesterday')."),
        ({"job_id": "x", "airflow_run_id": "r", "logical_date": "2026-11-29T07:00:00"},
         "'logical_date' must be an ISO 8601 time with its zone, e.g. 2026-11-29T07:00:00Z (got "
         "'2026-11-29T07:00:00')."),
        ({"airflow_run_id": "r"}, "'job_id' must be a non-empty string of at most 250 characters."),
        ({"job_id": "x", "airflow_run_id": "r", "request_id": 5},
         "'request_id' must be null or a non-empty string of at most 250 characters."),
        ([1], "The request body must be a JSON object."),
    ]  # fmt: skip
    for body, message in cases:
        assert refused(scheduler(hub, "POST", "runs", json=body), 400) == message
    assert refused(scheduler(hub, "POST", "runs/abcdefghij/finish", json={"state": "done"}), 400) == (
        "'state' must be 'success' or 'failed' (got 'done')."
    )
    assert refused(scheduler(hub, "POST", "runs/abcdefghij/finish", json={"state": "failed"}), 404) == (
        "There is no run 'abcdefghij'."
    )


# ---- Run now, and run again exactly ----------------------------------------------------------------------------------


def test_a_run_now_request_starts_once_and_only_for_its_own_job(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jm-sam", "analysts")
    new_person(hub, "jm-ana", "analysts")
    sams = new_job(hub, "jm-sam", name="Sam's", schedule="0 0 1 1 *")  # not due now: only the request starts it
    anas = new_job(hub, "jm-ana", name="Ana's")
    request = job_runs(hub, "request_run", sams, requested_by="jm-sam")
    assert request.state == QUEUED

    # Sam's request with Ana's job: refused, and Sam's request still waits.
    assert refused(start_run(hub, anas.id, request_id=request.request_id), 409) == (
        f'The job "Ana\'s" has no Run now request {request.request_id!r} waiting: it was started before, or it is '
        "another job's."
    )
    assert run_tokens(hub, "jm-ana") == [] and hub.store.run(request.id).state == QUEUED

    answer = start_run(hub, sams.id, request_id=request.request_id, airflow_run_id="manual__1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["run_id"] == request.id and answer.json()["owner"] == "jm-sam"
    assert refused(start_run(hub, sams.id, request_id=request.request_id, airflow_run_id="manual__1"), 409) == (
        f'The job "Sam\'s" has no Run now request {request.request_id!r} waiting: it was started before, or it is '
        "another job's."
    )
    assert len(run_tokens(hub, "jm-sam")) == 1


def test_run_again_exactly_pins_the_version_and_parameters(jobs_hub):
    hub = jobs_hub
    new_person(hub, "je-sam", "analysts")
    job = new_job(hub, "je-sam", parameters={"days": 7})
    first = start_run(hub, job.id, this_minute())
    assert first.status_code == 200, first.text
    run_id = first.json()["run_id"]
    scheduler(
        hub, "POST", f"runs/{run_id}/finish", json={"state": "failed", "reason": "boom", "notebook_version": "v7"}
    )
    hub.store.update_job(
        job.id, name=job.name, notebook_key=job.notebook_key, schedule=job.schedule, access_group="analysts",
        parameters={"days": 30},
    )  # fmt: skip
    again = job_runs(hub, "run_again_exactly", hub.store.run(run_id), requested_by="je-sam")
    answer = start_run(hub, job.id, request_id=again.request_id)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["notebook_version"], answer.json()["parameters"]) == ("v7", {"days": 7})


# ---- the owner's eligibility -----------------------------------------------------------------------------------------


def test_a_role_the_owner_is_not_eligible_for_gets_nothing(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jn-eve", "analysts")
    job = new_job(hub, "jn-eve", access_group="data-engineers")
    issued_before = issued_total(hub)
    message = (
        "jn-eve is no longer eligible for the role of access group 'data-engineers' this job runs with (their roles "
        "now: Analysts): no credentials were issued. The owner can edit the job to use one of their roles."
    )
    assert refused(start_run(hub, job.id, this_minute()), 403) == message
    (run,) = hub.store.runs(job.id)
    assert (run.state, run.reason) == (FAILED, message)
    assert run_tokens(hub, "jn-eve") == []  # the token made for the check is gone
    assert hub.sts.assume_role_calls(f"jn-eve-job-{job.id}") == []
    assert issued_total(hub) == issued_before


def test_a_revoked_owner_gets_no_run(jobs_hub):
    """The revocation store plugs into the broker's job runs (``is_revoked``); a revoked owner's run is refused
    before any token is made."""
    hub = jobs_hub
    new_person(hub, "jv-rev", "analysts")
    job = new_job(hub, "jv-rev")
    start = StartRequest(job_id=job.id, airflow_run_id="r1", logical_date=this_minute(), request_id=None)
    with pytest.raises(Refusal) as caught:
        job_runs(hub, "start", start, is_revoked=lambda owner: owner == "jv-rev")
    message = (
        "jv-rev's access was revoked by an administrator: no run of their jobs starts and no credentials were issued."
    )
    assert (caught.value.status, caught.value.message) == (403, message)
    assert [(r.state, r.reason) for r in hub.store.runs(job.id)] == [(FAILED, message)]
    assert run_tokens(hub, "jv-rev") == []


def test_pausing_or_deleting_a_job_ends_its_runs_credentials_at_once(jobs_hub):
    hub = jobs_hub
    new_person(hub, "jx-sam", "analysts")
    for action, reason in (("pause", "The job was paused by jx-sam."), ("delete", "The job was deleted by jx-sam.")):
        job = new_job(hub, "jx-sam", name=f"To {action}")
        answer = start_run(hub, job.id, this_minute())
        assert answer.status_code == 200, answer.text
        started = answer.json()
        assert credentials(started["broker_url"], started["token"]).status_code == 200
        job_runs(hub, action, job, by="jx-sam")
        assert [t for t in run_tokens(hub, "jx-sam") if t["note"] == f"aws-job:{started['run_id']}"] == []
        of_job = " of the job 'To pause'" if action == "pause" else ""
        assert refused(credentials(started["broker_url"], started["token"]), 403) == (
            f"This scheduled run{of_job} has ended (failed: {reason}): its token no longer obtains credentials."
        )
        assert hub.store.run(started["run_id"]).state == FAILED


def test_closing_a_run_deletes_no_other_token_that_took_its_id(jobs_hub):
    """The hub reuses a deleted token's id: a run whose token expired and was purged while the run stayed open (the
    scheduler died) must not delete the owner's token that got the same id."""
    hub = jobs_hub
    new_person(hub, "jw-ida", "analysts")
    job = new_job(hub, "jw-ida")
    mine = hub.api_request("POST", "/users/jw-ida/tokens", json={"note": "my notebook client"}).json()
    run = hub.store.claim_tick(job.id, "r1", this_minute())
    hub.store.started(run.id, token_id=mine["id"], token_hash="gone", notebook_version=None, parameters={})
    job_runs(hub, "pause", job, by="jw-ida")
    assert hub.store.run(run.id).state == FAILED
    tokens = hub.api_request("GET", "/users/jw-ida/tokens").json()["api_tokens"]
    assert [t["note"] for t in tokens if t["id"] == mine["id"]] == ["my notebook client"]


def test_a_job_token_of_no_run_gets_nothing(jobs_hub):
    """A person may make a token with only the job scope (they hold it); it is no run's token."""
    hub = jobs_hub
    new_person(hub, "jt-ola", "analysts")
    new_job(hub, "jt-ola")
    token = hub.api_request(
        "POST", "/users/jt-ola/tokens", json={"scopes": [f"{JOB_SCOPE}!user=jt-ola"], "note": "aws-job:abcdefghij"}
    ).json()["token"]
    assert refused(credentials(hub.broker_url(), token), 403) == (
        "This token is not the token of a scheduled run: a job's credentials go only to the run the scheduler "
        "started, with the token the broker made for it."
    )
    assert [name for name in hub.sts.calls_by_person() if name.startswith("jt-ola")] == []


# ---- membership re-checked through Entra ID --------------------------------------------------------------------------


def test_an_owner_removed_from_the_group_gets_no_run(jobs_entra_hub, entra_emulator_reset):
    hub, emulator = jobs_entra_hub, entra_emulator_reset
    sign_in_through_entra(hub, emulator, "sam@contoso.example")  # analysts and data engineers
    analysts_job = new_job(hub, "sam", name="Analysts' job", access_group="analysts")
    engineers_job = new_job(hub, "sam", name="Engineers' job", access_group="data-engineers")
    later_job = new_job(hub, "sam", name="Later job", access_group="data-engineers")
    before = issued_total(hub)

    # Out of the analysts group, still a data engineer: the analysts' job no longer runs, the other does.
    emulator.set_groups("sam@contoso.example", [DATA_ENGINEERS])
    time.sleep(1.1)  # the hub re-checks at most every auth_refresh_age (1 s here)
    message = (
        "sam is no longer eligible for the role of access group 'analysts' this job runs with (their roles now: "
        "Data Engineers): no credentials were issued. The owner can edit the job to use one of their roles."
    )
    assert refused(start_run(hub, analysts_job.id, this_minute()), 403) == message
    assert hub.store.runs(analysts_job.id)[0].reason == message
    assert hub.sts.assume_role_calls(f"sam-job-{analysts_job.id}") == []
    started = start_run(hub, engineers_job.id, this_minute())
    assert started.status_code == 200, started.text
    assert credentials(started.json()["broker_url"], started.json()["token"]).status_code == 200
    scheduler(hub, "POST", f"runs/{started.json()['run_id']}/finish", json={"state": "success"})

    # Out of every access group: no run starts.
    emulator.set_groups("sam@contoso.example", [SALES])
    time.sleep(1.1)
    issued_before_removal = issued_total(hub)
    message = (
        "sam is no longer in any Entra ID group that grants an AWS role, so no credentials were issued for the job "
        "'Later job'. They can ask to be added to one again."
    )
    assert refused(start_run(hub, later_job.id, this_minute()), 403) == message
    assert hub.store.runs(later_job.id)[0].reason == message
    assert run_tokens(hub, "sam") == []
    assert hub.sts.assume_role_calls(f"sam-job-{later_job.id}") == []
    assert issued_total(hub) == issued_before_removal == before + 1


def test_an_owner_without_an_entra_session_still_gets_runs_while_in_the_group(jobs_entra_hub, entra_emulator_reset):
    """Weeks without signing in: the owner's Entra refresh token is refused, yet each run start re-reads their groups
    from Graph (the hub's application token) and decides; out of every access group, the run is refused."""
    hub, emulator = jobs_entra_hub, entra_emulator_reset
    emulator.set_modes(token_lifetime_seconds=2)  # every membership check finds ana's Entra tokens expired
    sign_in_through_entra(hub, emulator, "ana@contoso.example")
    first, second = new_job(hub, "ana", name="First"), new_job(hub, "ana", name="Second")
    emulator.revoke_sessions("ana@contoso.example")
    time.sleep(2.5)  # her Entra tokens have expired, and cannot be refreshed any more
    graph_before = emulator.stats()

    started = start_run(hub, first.id, this_minute())
    assert started.status_code == 200, started.text
    answer = credentials(started.json()["broker_url"], started.json()["token"])
    assert answer.status_code == 200, answer.text
    assert hub.caller_arn(answer.json()) == (
        f"arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/ana-job-{first.id}"
    )
    assert emulator.stats()["grants"].get("refresh_token", 0) == graph_before["grants"].get("refresh_token", 0)  # none

    emulator.set_groups("ana@contoso.example", [SALES])
    time.sleep(1.1)
    assert refused(start_run(hub, second.id, this_minute()), 403) == (
        "ana is no longer in any Entra ID group that grants an AWS role, so no credentials were issued for the job "
        "'Second'. They can ask to be added to one again."
    )
    assert [t["note"] for t in run_tokens(hub, "ana")] == [f"aws-job:{started.json()['run_id']}"]


def test_the_scheduler_token_stays_in_the_hub(jobs_hub):
    """The hub reads it to register the service; neither the proxy nor the broker gets it."""
    hub = jobs_hub

    def environment(process) -> dict:
        raw = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
        return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)

    children = psutil.Process(hub.proc.pid).children(recursive=True)
    proxy = [p for p in children if any("configurable-http-proxy" in part for part in p.cmdline())]
    broker = [p for p in children if "hub.broker" in p.cmdline()]
    assert len(proxy) == 1 and len(broker) == 1
    assert environment(psutil.Process(hub.proc.pid))["NOTEBOOK_SCHEDULER_TOKEN"] == hub.scheduler_token
    for process in (*proxy, *broker):
        assert hub.scheduler_token not in environment(process).values()


# ---- revoking an owner ----------------------------------------------------------------------------------------------


def test_revoking_an_owner_ends_their_open_runs_credentials_and_no_one_elses(jobs_hub):
    """Issue 14's revocation with a run in progress: the run's token is deleted and the run closed with the reason,
    its credential refreshes are refused, no new run starts; another person's open run goes on."""
    from hub.revocation.document import revocations_policy
    from tests.integration.test_revocation import POLICY_ARN, iam

    hub = jobs_hub
    client = iam(hub.moto)
    try:
        client.get_policy(PolicyArn=POLICY_ARN)
    except client.exceptions.NoSuchEntityException:
        client.create_policy(PolicyName="jupyterhub-revocations", PolicyDocument=json.dumps(revocations_policy([], 0)))
    new_person(hub, "rv-ida", "analysts")
    new_person(hub, "rv-ole", "analysts")
    new_person(hub, "rv-adm", "platform-admins", "analysts")
    ida_job, ole_job = new_job(hub, "rv-ida"), new_job(hub, "rv-ole")
    ida_later = new_job(hub, "rv-ida", name="Later")
    ida_run = start_run(hub, ida_job.id, this_minute())
    ole_run = start_run(hub, ole_job.id, this_minute())
    assert ida_run.status_code == ole_run.status_code == 200, (ida_run.text, ole_run.text)
    ida, ole = ida_run.json(), ole_run.json()
    assert credentials(ida["broker_url"], ida["token"]).status_code == 200
    sts_calls = len(hub.sts.assume_role_calls(f"rv-ida-job-{ida_job.id}"))

    admin = hub.api_request("POST", "/users/rv-adm/tokens", json={"note": "revocations"}).json()["token"]
    revoked = requests.post(
        f"{hub.broker_url()}v1/revocations",
        json={"user": "rv-ida"},
        headers={"Authorization": f"token {admin}"},
        timeout=60,
    )
    assert revoked.status_code == 200, revoked.text

    # The open run is closed with the reason, its token deleted: the helper's next refresh gets nothing.
    (run,) = hub.store.runs(ida_job.id)
    assert (run.state, run.reason) == (FAILED, "Their access was revoked by a hub administrator.")
    assert run_tokens(hub, "rv-ida") == []
    assert credentials(ida["broker_url"], ida["token"]).status_code == 403
    # No new run of the revoked owner starts, and nothing more was issued for them.
    assert refused(start_run(hub, ida_later.id, this_minute()), 403) == (
        "rv-ida's access was revoked by an administrator: no run of their jobs starts and no credentials were issued."
    )
    assert run_tokens(hub, "rv-ida") == []
    assert len(hub.sts.assume_role_calls(f"rv-ida-job-{ida_job.id}")) == sts_calls
    # Someone else's run goes on.
    assert credentials(ole["broker_url"], ole["token"]).status_code == 200
    assert hub.store.run(ole["run_id"]).state == RUNNING
    scheduler(hub, "POST", f"runs/{ole['run_id']}/finish", json={"state": "success"})
