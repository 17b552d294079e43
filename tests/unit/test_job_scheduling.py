"""What the scheduler may ask and what a run gets: pure rules, against literal answers."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from authenticator.access_policy import load_access_policy
from hub.broker.errors import Refusal
from hub.broker.grants import token_kind
from hub.jobs.scheduling import (
    before_creation,
    job_token_refusal,
    not_due,
    parse_finish,
    parse_start,
    run_expired,
    run_place,
    scheduler_identity,
    start_answer,
)
from hub.jobs.store import Job, Run

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
CREATED = datetime(2026, 11, 29, 6, 10, 30, tzinfo=UTC)
JOB = Job(
    id="abcde12345",
    owner="sam",
    name="Daily",
    notebook_key="reports/daily.ipynb",
    schedule="*/15 * * * *",
    access_group="analysts",
    parameters={"days": 7},
    paused=False,
    created_at=CREATED,
    updated_at=CREATED,
)
TICK = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def run(**changes) -> Run:
    values = {
        "id": "run0000001",
        "job_id": JOB.id,
        "airflow_run_id": "scheduled__x",
        "logical_date": TICK,
        "request_id": None,
        "requested_by": None,
        "state": "running",
        "reason": None,
        "requested_at": TICK,
        "started_at": TICK,
        "finished_at": None,
        "notebook_version": None,
        "parameters": {"days": 7},
        "token_id": "a12",
        **changes,
    }
    return Run(**values)


def refusal(function, *args) -> tuple[int, str, str]:
    with pytest.raises(Refusal) as caught:
        function(*args)
    return caught.value.status, caught.value.reason, caught.value.message


# ---- who may ask -------------------------------------------------------------------------------------------------


SCHEDULER = {"kind": "service", "name": "notebook-scheduler", "scopes": ["custom:aws-credentials:run-jobs"]}
NOT_THE_SCHEDULER = (
    403,
    "not-the-scheduler",
    "Only the notebook scheduler's hub token (service 'notebook-scheduler', scope 'custom:aws-credentials:run-jobs') "
    "may start or finish scheduled runs.",
)


def test_only_the_scheduler_service_with_its_scope():
    scheduler_identity(SCHEDULER)
    for whoami in (
        {**SCHEDULER, "scopes": []},  # its role lost the scope
        {**SCHEDULER, "name": "aws-credentials"},  # another service holding the scope
        {**SCHEDULER, "kind": "user", "name": "notebook-scheduler"},  # a person named like it
    ):
        assert refusal(scheduler_identity, whoami) == NOT_THE_SCHEDULER


JOB_SCOPE = "custom:aws-credentials:job"
IDENTIFY = ["read:users:groups!user=sam", "read:users:name!user=sam"]


@pytest.mark.parametrize(
    ("whoami", "kind"),
    [
        ({"kind": "user", "name": "sam", "scopes": [f"{JOB_SCOPE}!user=sam", *IDENTIFY]}, "job"),
        ({"kind": "user", "name": "sam", "scopes": [f"{JOB_SCOPE}!user=sam"]}, "job"),
        # a personal token with default scopes has the job scope among others: the server rule refuses it
        ({"kind": "user", "name": "sam", "scopes": [f"{JOB_SCOPE}!user=sam", "read:servers!user=sam"]}, "server"),
        ({"kind": "user", "name": "sam", "scopes": [f"{JOB_SCOPE}!user=ana"]}, "server"),
        ({"kind": "user", "name": "sam", "scopes": [JOB_SCOPE]}, "server"),
        ({"kind": "service", "name": "sam", "scopes": [f"{JOB_SCOPE}!user=sam"]}, "server"),
    ],
)
def test_a_job_token_has_the_job_scope_only(whoami, kind):
    assert token_kind(whoami) == kind


# ---- the scheduler's requests --------------------------------------------------------------------------------------


def test_a_start_request():
    body = {"job_id": JOB.id, "airflow_run_id": "r1", "logical_date": "2026-11-29T08:00:00+01:00", "request_id": None}
    start = parse_start(json.dumps(body).encode())
    assert (start.job_id, start.airflow_run_id, start.logical_date, start.request_id) == (JOB.id, "r1", TICK, None)
    manual = parse_start(b'{"job_id": "j", "airflow_run_id": "m", "request_id": "q"}')
    assert (manual.logical_date, manual.request_id) == (None, "q")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "The request body must be a JSON object."),
        (b"", "The request body must be a JSON object."),
        (b'{"job_id": "", "airflow_run_id": "r"}', "'job_id' must be a non-empty string of at most 250 characters."),
        (b'{"job_id": "j"}', "'airflow_run_id' must be a non-empty string of at most 250 characters."),
        (
            b'{"job_id": "j", "airflow_run_id": "r", "logical_date": 5}',
            "'logical_date' must be null or a non-empty string of at most 250 characters.",
        ),
        (
            b'{"job_id": "j", "airflow_run_id": "r", "logical_date": "2026-11-29"}',
            "'logical_date' must be an ISO 8601 time with its zone, e.g. 2026-11-29T07:00:00Z (got '2026-11-29').",
        ),
    ],
)
def test_bad_start_requests(body, message):
    assert refusal(parse_start, body) == (400, "bad-request", message)


def test_finish_requests():
    finish = parse_finish(b'{"state": "failed", "reason": "ZeroDivisionError", "notebook_version": "v3"}')
    assert (finish.state, finish.reason, finish.notebook_version) == ("failed", "ZeroDivisionError", "v3")
    assert parse_finish(b'{"state": "success"}').reason is None
    assert len(parse_finish(json.dumps({"state": "failed", "reason": "x" * 5000}).encode()).reason) == 2000
    assert refusal(parse_finish, b'{"state": "running"}') == (
        400,
        "bad-request",
        "'state' must be 'success' or 'failed' (got 'running').",
    )
    assert refusal(parse_finish, b'{"state": "failed", "reason": 3}') == (
        400,
        "bad-request",
        "'reason' must be null or a string.",
    )


# ---- due or not ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "now", "reason"),
    [
        (TICK, TICK + timedelta(seconds=5), None),
        (TICK, TICK + timedelta(seconds=3600), None),  # as late as allowed
        (TICK, TICK - timedelta(seconds=60), None),  # the scheduler's clock a minute ahead
        (datetime(2026, 11, 29, 6, 15, tzinfo=UTC), TICK, None),  # the first tick after creation
        (
            TICK + timedelta(minutes=1),
            TICK + timedelta(minutes=1),
            "2026-11-29T07:01:00Z is not a tick of the job's schedule ('*/15 * * * *', UTC): the scheduler may start "
            "only runs that are due.",
        ),
        (
            TICK,
            TICK + timedelta(seconds=3601),
            "The tick 2026-11-29T07:00:00Z is 3601 seconds old; a run starts at most 3600 seconds after its tick "
            "(NotebookJobs.max_start_delay_seconds): this one is skipped, the next tick runs.",
        ),
        (
            TICK,
            TICK - timedelta(seconds=61),
            "The tick 2026-11-29T07:00:00Z is in the future: a run starts at its tick, not before.",
        ),
        (
            None,
            TICK,
            "This start names neither a tick of the job's schedule nor a Run now request: a scheduled run gives its "
            "logical date, a manual one the request id the hub gave it.",
        ),
    ],
)
def test_due_runs(tick, now, reason):
    assert not_due(JOB, tick, now, 3600) == reason


@pytest.mark.parametrize(
    ("tick", "reason"),
    [
        (datetime(2026, 11, 29, 6, 15, tzinfo=UTC), None),  # the first tick after creation
        (datetime(2026, 11, 29, 6, 10, tzinfo=UTC), None),  # the minute it was created in
        (None, None),  # a Run now request names no tick
        (
            datetime(2026, 11, 28, 6, 0, tzinfo=UTC),  # yesterday's: what Airflow asks a new daily DAG for at once
            "The tick 2026-11-28T06:00:00Z is before the job was created (2026-11-29T06:10:30Z): only later ticks run.",
        ),
    ],
)
def test_ticks_before_the_job_existed_are_no_runs_of_it(tick, reason):
    assert before_creation(JOB, tick) == reason


# ---- what a run gets -----------------------------------------------------------------------------------------------


def test_the_answer_for_a_started_run():
    place = run_place(POLICY.deployment, JOB, "run0000001")
    answer = start_answer(
        run=run(notebook_version="v9"),
        token="the-token",
        job=JOB,
        session_name="sam-job-abcde12345",
        place=place,
        broker_url="http://hub:8181/services/aws-credentials/",
        region="us-east-1",
        s3_endpoint_url="",
    )
    assert answer == {
        "run_id": "run0000001",
        "token": "the-token",
        "owner": "sam",
        "session_name": "sam-job-abcde12345",
        "bucket": "demo-jupyter-notebooks",
        "notebook_key": "home/sam/reports/daily.ipynb",
        "notebook_version": "v9",
        "parameters": {"days": 7},
        "output_prefix": "home/sam/runs/abcde12345/run0000001/",
        "broker_url": "http://hub:8181/services/aws-credentials/",
        "region": "us-east-1",
        "s3_endpoint_url": None,
    }


NOT_A_RUN_TOKEN = (
    403,
    "not-a-job-run-token",
    "This token is not the token of a scheduled run: a job's credentials go only to the run the scheduler started, "
    "with the token the broker made for it.",
)


@pytest.mark.parametrize(
    ("last", "job", "owner", "expected"),
    [
        (None, None, "sam", NOT_A_RUN_TOKEN),
        (run(), JOB, "ana", NOT_A_RUN_TOKEN),  # another person's run
        (
            run(state="success"),
            JOB,
            "sam",
            (
                403,
                "job-run-ended",
                "This scheduled run of the job 'Daily' has ended (success: finished): its token no longer obtains "
                "credentials.",
            ),
        ),
        (
            run(state="failed", reason="The job was paused by sam."),
            JOB,
            "sam",
            (
                403,
                "job-run-ended",
                "This scheduled run of the job 'Daily' has ended (failed: The job was paused by sam.): its token no "
                "longer obtains credentials.",
            ),
        ),
        (
            run(state="failed", reason="The job was deleted by alex."),
            None,
            "sam",
            (
                403,
                "job-run-ended",
                "This scheduled run has ended (failed: The job was deleted by alex.): its token no longer obtains "
                "credentials.",
            ),
        ),
        (
            run(),
            JOB,
            "sam",
            (
                403,
                "job-run-ended",
                "This scheduled run of the job 'Daily' has run longer than 21600 seconds "
                "(NotebookJobs.max_run_seconds): it gets no more credentials.",
            ),
        ),
    ],
)
def test_why_a_job_token_gets_nothing(last, job, owner, expected):
    found = job_token_refusal(last, job, owner, 21600)
    assert (found.status, found.reason, found.message) == expected


def test_a_run_expires_with_its_token():
    assert not run_expired(run(), TICK + timedelta(seconds=21600), 21600)
    assert run_expired(run(), TICK + timedelta(seconds=21601), 21600)
    assert run_expired(run(started_at=None), TICK, 21600)
