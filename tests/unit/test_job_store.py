"""The job store on a real sqlite file: jobs, and a run's life from request or tick to its end; a tick or a request
starts once; pausing, deleting and revoking close open runs."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from hub.jobs.store import FAILED, QUEUED, RUNNING, SUCCESS, JobStore, NameTaken

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
TICK = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    store = JobStore(str(tmp_path / "jobs.sqlite"), clock=clock)
    yield store
    store.close()


def new_job(store, owner="sam", name="Daily", **changes):
    values = {
        "owner": owner,
        "name": name,
        "notebook_key": "reports/daily.ipynb",
        "schedule": "0 7 * * *",
        "access_group": "analysts",
        "parameters": {"days": 7},
        **changes,
    }
    return store.create_job(**values)


def test_jobs_are_stored_and_listed(store, tmp_path, clock):
    job = new_job(store)
    assert re.fullmatch(r"[a-z0-9]{10}", job.id)
    assert (job.owner, job.name, job.notebook_key, job.schedule, job.access_group) == (
        "sam",
        "Daily",
        "reports/daily.ipynb",
        "0 7 * * *",
        "analysts",
    )
    assert job.parameters == {"days": 7} and job.paused is False
    assert job.created_at == job.updated_at == NOW
    other = new_job(store, owner="ana", name="Weekly")
    assert [j.id for j in store.jobs()] == [other.id, job.id]  # by owner
    assert store.jobs("sam") == [job]
    # Another connection (another process) reads the same.
    again = JobStore(str(tmp_path / "jobs.sqlite"))
    assert again.job(job.id) == job
    again.close()

    clock.now = NOW + timedelta(minutes=5)
    changed = store.update_job(
        job.id, name="Daily 2", notebook_key="b.ipynb", schedule="0 8 * * *", access_group="x", parameters={}
    )
    assert (changed.name, changed.schedule, changed.parameters, changed.updated_at) == (
        "Daily 2",
        "0 8 * * *",
        {},
        NOW + timedelta(minutes=5),
    )


def test_a_name_is_unique_per_owner(store):
    job = new_job(store)
    with pytest.raises(NameTaken):
        new_job(store)
    new_job(store, owner="ana")  # another person's may share it
    second = new_job(store, name="Other")
    with pytest.raises(NameTaken):
        store.update_job(
            second.id, name="Daily", notebook_key="a.ipynb", schedule="* * * * *", access_group="a", parameters={}
        )
    assert [j.name for j in store.jobs("sam")] == ["Daily", "Other"] and store.job(job.id) == job


def test_a_tick_starts_once(store):
    job = new_job(store)
    run = store.claim_tick(job.id, "scheduled__1", TICK)
    assert (run.state, run.logical_date, run.started_at, run.request_id, run.token_id) == (
        RUNNING,
        TICK,
        NOW,
        None,
        None,
    )
    assert store.claim_tick(job.id, "scheduled__1", TICK) is None  # replayed
    assert store.claim_tick(job.id, "another", TICK) is None  # another Airflow run of the same tick
    assert store.claim_tick(job.id, "next", TICK + timedelta(days=1)) is not None
    started = store.started(run.id, token_id="a42", token_hash="h-a42", notebook_version=None, parameters={"days": 7})
    assert (started.token_id, started.parameters) == ("a42", {"days": 7})
    assert store.open_run_for_token("h-a42") == started
    assert store.open_runs(job.id)[0].id in {run.id}


def test_a_refused_start_releases_its_tick_and_says_why(store):
    job = new_job(store)
    run = store.claim_tick(job.id, "r1", TICK)
    refused = store.refuse_start(run.id, "Sam is no longer eligible.")
    assert (refused.state, refused.reason, refused.finished_at) == (FAILED, "Sam is no longer eligible.", NOW)
    retried = store.claim_tick(job.id, "r1", TICK)  # judged again
    assert retried is not None and retried.id != run.id
    assert [r.id for r in store.runs(job.id)] == [retried.id, run.id]


def test_an_undecided_start_is_forgotten(store):
    job = new_job(store)
    run = store.claim_tick(job.id, "r1", TICK)
    store.release_start(run.id)
    assert store.run(run.id) is None
    assert store.claim_tick(job.id, "r1", TICK) is not None
    request = store.request_run(job.id, requested_by="sam")
    claimed = store.claim_request(job.id, request.request_id, "manual__1")
    store.release_start(claimed.id)
    assert store.run(request.id).state == QUEUED and store.run(request.id).airflow_run_id is None


def test_a_request_starts_once_and_only_for_its_job(store, clock):
    job, other = new_job(store), new_job(store, owner="ana")
    request = store.request_run(job.id, requested_by="sam")
    assert (request.state, request.requested_by, request.started_at) == (QUEUED, "sam", None)
    assert re.fullmatch(r"[0-9a-f]{32}", request.request_id)
    assert store.claim_request(other.id, request.request_id, "manual__x") is None  # another person's job
    assert store.run(request.id).state == QUEUED
    clock.now = NOW + timedelta(seconds=5)
    run = store.claim_request(job.id, request.request_id, "manual__1")
    assert (run.id, run.state, run.airflow_run_id, run.started_at) == (
        request.id,
        RUNNING,
        "manual__1",
        NOW + timedelta(seconds=5),
    )
    assert store.claim_request(job.id, request.request_id, "manual__1") is None  # consumed
    refused = store.refuse_start(run.id, "no")
    assert refused.state == FAILED
    assert store.claim_request(job.id, request.request_id, "manual__2") is None  # a refused request stays used


def test_run_again_exactly_pins_version_and_parameters(store):
    job = new_job(store)
    request = store.request_run(job.id, requested_by="sam", notebook_version="v123", parameters={"days": 1})
    assert (request.notebook_version, request.parameters) == ("v123", {"days": 1})


def test_finish_closes_a_run_once(store, clock):
    job = new_job(store)
    run = store.claim_tick(job.id, "r1", TICK)
    store.started(run.id, token_id="a7", token_hash="h-a7", notebook_version=None, parameters={})
    clock.now = NOW + timedelta(minutes=3)
    before = store.finish(run.id, state=SUCCESS, reason=None, notebook_version="v9")
    assert before.token_id == "a7"
    after = store.run(run.id)
    assert (after.state, after.notebook_version, after.duration_seconds) == (SUCCESS, "v9", 180)
    assert store.open_run_for_token("h-a7") is None and store.last_run_for_token("h-a7") == after
    assert store.finish(run.id, state=FAILED, reason="again", notebook_version=None) is None
    with pytest.raises(ValueError, match="a run finishes as success or failed, not 'running'"):
        store.finish(run.id, state=RUNNING, reason=None, notebook_version=None)


def test_pausing_closes_open_runs_and_requests(store):
    job, other = new_job(store), new_job(store, name="Other")
    running = store.claim_tick(job.id, "r1", TICK)
    store.started(running.id, token_id="a1", token_hash="h-a1", notebook_version=None, parameters={})
    queued = store.request_run(job.id, requested_by="sam")
    untouched = store.claim_tick(other.id, "r2", TICK)
    closed = store.set_paused(job.id, True, "The job was paused.")
    assert {r.id for r in closed} == {running.id, queued.id}
    assert [r.token_id for r in closed if r.id == running.id] == ["a1"]
    assert {(r.state, r.reason) for r in (store.run(running.id), store.run(queued.id))} == {
        (FAILED, "The job was paused.")
    }
    assert store.open_run_for_token("h-a1") is None and store.last_run_for_token("h-a1").id == running.id
    assert store.job(job.id).paused is True and store.run(untouched.id).state == RUNNING
    # A paused job's start that had already claimed its tick can no longer record a token.
    assert store.started(running.id, token_id="a1", token_hash="h-a1", notebook_version=None, parameters={}) is None
    assert store.set_paused(job.id, False, "") == [] and store.job(job.id).paused is False


def test_deleting_a_job_closes_its_runs_and_keeps_them_on_record(store, tmp_path):
    job = new_job(store)
    running = store.claim_tick(job.id, "r1", TICK)
    store.started(running.id, token_id="a1", token_hash="h-a1", notebook_version=None, parameters={})
    refused = store.record_refused(job.id, airflow_run_id="r0", logical_date=None, reason="not due")
    (closed,) = store.delete_job(job.id, "The job was deleted by sam.")
    assert (closed.id, closed.token_id) == (running.id, "a1")
    assert store.job(job.id) is None and store.jobs("sam") == [] and store.open_run_for_token("h-a1") is None
    assert store.last_run_for_token("h-a1").reason == "The job was deleted by sam."
    assert [r.id for r in store.runs(job.id)] == [refused.id, running.id]
    again = new_job(store)  # the name is free again
    assert again.id != job.id


def test_revoking_closes_one_persons_runs(store):
    sams, anas = new_job(store), new_job(store, owner="ana")
    mine = store.claim_tick(sams.id, "r1", TICK)
    store.started(mine.id, token_id="a1", token_hash="h-a1", notebook_version=None, parameters={})
    theirs = store.claim_tick(anas.id, "r2", TICK)
    (closed,) = store.close_runs_of("sam", "Sam's access was revoked.")
    assert closed.token_id == "a1"
    assert store.run(mine.id).reason == "Sam's access was revoked." and store.run(theirs.id).state == RUNNING


def test_refused_starts_are_recorded(store):
    job = new_job(store)
    run = store.record_refused(job.id, airflow_run_id="r9", logical_date=TICK, reason="This run is not due.")
    assert (run.state, run.reason, run.logical_date, run.airflow_run_id, run.started_at) == (
        FAILED,
        "This run is not due.",
        TICK,
        "r9",
        None,
    )
    assert store.claim_tick(job.id, "r9", TICK) is not None  # a refusal holds no tick
