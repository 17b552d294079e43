"""What the scheduler may ask and what a run gets: pure rules, from the hub's answers, the job store's records and the
clock, to an answer or a :class:`Refusal` whose message says what is wrong (the page shows it as the run's reason).

- :func:`scheduler_identity`: only the ``notebook-scheduler`` service's token, with the run-jobs scope, may start or
  finish runs.
- :func:`parse_start`, :func:`parse_finish`: the scheduler's request bodies (the HTTP contract in
  ``scheduler_api.py``).
- :func:`not_due`: whether a scheduled start is due: a tick of the job's schedule, since the job exists, not in the
  future, not older than ``NotebookJobs.max_start_delay_seconds``.
- :func:`job_token_refusal`: why a job token (``grants.token_kind``: its only scope ``JOB_SCOPE!user=<owner>``) gets
  nothing.
- :func:`start_answer`: what the scheduler gets for a started run.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from authenticator.access_policy import Deployment
from authenticator.safe_names import safe_name

from ..broker import errors
from ..broker.contract import RUN_JOBS_SCOPE, SCHEDULER_SERVICE_NAME
from ..broker.errors import Refusal
from .store import FINAL_STATES, Job, Run
from .validation import is_tick

# The session tag naming the job, besides the owner's ``user`` and ``access-group``.
JOB_TAG = "job"
# A scheduler clock slightly ahead of the broker's still starts a tick on time.
CLOCK_SKEW_SECONDS = 60

# Reason codes (label values of the broker's refusals metric).
BAD_REQUEST = "bad-request"
NOT_THE_SCHEDULER = "not-the-scheduler"
JOB_NOT_FOUND = "job-not-found"
JOB_PAUSED = "job-paused"
RUN_NOT_DUE = "run-not-due"
RUN_ALREADY_STARTED = "run-already-started"
NO_SUCH_REQUEST = "no-such-request"
RUN_NOT_FOUND = "run-not-found"
RUN_NOT_OPEN = "run-not-open"
OWNER_REVOKED = "owner-revoked"
OWNER_NOT_ALLOWED = "owner-not-allowed"
NOT_A_JOB_RUN_TOKEN = "not-a-job-run-token"  # noqa: S105 - a reason code, not a secret
JOB_RUN_ENDED = "job-run-ended"


def scheduler_identity(whoami: dict) -> None:
    """Refuse unless the token is the scheduler service's, with the run-jobs scope."""
    if (
        whoami.get("kind") != "service"
        or whoami.get("name") != SCHEDULER_SERVICE_NAME
        or RUN_JOBS_SCOPE not in (whoami.get("scopes") or ())
    ):
        raise Refusal(
            403,
            NOT_THE_SCHEDULER,
            f"Only the notebook scheduler's hub token (service {SCHEDULER_SERVICE_NAME!r}, scope {RUN_JOBS_SCOPE!r}) "
            "may start or finish scheduled runs.",
        )


@dataclass(frozen=True)
class StartRequest:
    job_id: str
    airflow_run_id: str
    logical_date: datetime | None
    request_id: str | None


@dataclass(frozen=True)
class FinishRequest:
    state: str
    reason: str | None
    notebook_version: str | None


def _body(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refusal(400, BAD_REQUEST, "The request body must be a JSON object.")
    return body


def _text_field(body: dict, name: str, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 250:
        kind = "a non-empty string" if required else "null or a non-empty string"
        raise Refusal(400, BAD_REQUEST, f"{name!r} must be {kind} of at most 250 characters.", parameter=name)
    return value


def parse_start(raw: bytes) -> StartRequest:
    body = _body(raw)
    logical_text = _text_field(body, "logical_date", required=False)
    logical_date = None
    if logical_text is not None:
        try:
            logical_date = datetime.fromisoformat(logical_text)
        except ValueError:
            logical_date = None
        if logical_date is None or logical_date.tzinfo is None:
            raise Refusal(
                400,
                BAD_REQUEST,
                f"'logical_date' must be an ISO 8601 time with its zone, e.g. 2026-11-29T07:00:00Z (got "
                f"{logical_text!r}).",
                parameter="logical_date",
            )
        logical_date = logical_date.astimezone(UTC)
    return StartRequest(
        job_id=_text_field(body, "job_id", required=True),
        airflow_run_id=_text_field(body, "airflow_run_id", required=True),
        logical_date=logical_date,
        request_id=_text_field(body, "request_id", required=False),
    )


def parse_finish(raw: bytes) -> FinishRequest:
    body = _body(raw)
    state = body.get("state")
    if state not in FINAL_STATES:
        raise Refusal(400, BAD_REQUEST, f"'state' must be 'success' or 'failed' (got {state!r}).", parameter="state")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Refusal(400, BAD_REQUEST, "'reason' must be null or a string.", parameter="reason")
    return FinishRequest(
        state=state,
        reason=reason[:2000] if reason else None,  # shown on the page; a traceback's tail is enough
        notebook_version=_text_field(body, "notebook_version", required=False),
    )


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_due(job: Job, logical_date: datetime | None, now: datetime, max_delay_seconds: int) -> str | None:
    """Why a scheduled start of ``job`` for the tick ``logical_date`` is not due now, or None when it is."""
    if logical_date is None:
        return (
            "This start names neither a tick of the job's schedule nor a Run now request: a scheduled run gives its "
            "logical date, a manual one the request id the hub gave it."
        )
    tick = utc_text(logical_date)
    if not is_tick(job.schedule, logical_date):
        return (
            f"{tick} is not a tick of the job's schedule ({job.schedule!r}, UTC): the scheduler may start only runs "
            "that are due."
        )
    age = (now - logical_date).total_seconds()
    if age < -CLOCK_SKEW_SECONDS:
        return f"The tick {tick} is in the future: a run starts at its tick, not before."
    if age > max_delay_seconds:
        return (
            f"The tick {tick} is {int(age)} seconds old; a run starts at most {max_delay_seconds} seconds after its "
            "tick (NotebookJobs.max_start_delay_seconds): this one is skipped, the next tick runs."
        )
    return None


def before_creation(job: Job, logical_date: datetime | None) -> str | None:
    """Why a tick is no run of ``job`` at all: it came before the job existed. Airflow starts the latest past tick of
    a new DAG at once (its cron timetable with catchup off), so a new job is asked for one such tick; it is refused
    without being recorded, so that a new job's page shows no failed run it never had.
    ref: https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/timetable.html (a cron schedule
    is a CronTriggerTimetable in Airflow 3; with catchup off, a new DAG runs its latest past tick)"""
    if logical_date is not None and logical_date < job.created_at.replace(second=0, microsecond=0):
        tick = utc_text(logical_date)
        return f"The tick {tick} is before the job was created ({utc_text(job.created_at)}): only later ticks run."
    return None


def paused(job: Job) -> Refusal:
    return Refusal(
        409, JOB_PAUSED, f"The job {job.name!r} of {job.owner} is paused: no run starts until its owner resumes it."
    )


def already_started(job: Job, logical_date: datetime) -> Refusal:
    return Refusal(
        409,
        RUN_ALREADY_STARTED,
        f"The run of the tick {utc_text(logical_date)} of the job {job.name!r} was started before: each tick runs "
        "once.",
    )


def no_such_request(job: Job, request_id: str) -> Refusal:
    return Refusal(
        409,
        NO_SUCH_REQUEST,
        f"The job {job.name!r} has no Run now request {request_id!r} waiting: it was started before, or it is "
        "another job's.",
    )


def job_not_found(job_id: str) -> Refusal:
    return Refusal(404, JOB_NOT_FOUND, f"There is no job {job_id!r}: it was deleted, or never existed.")


def owner_revoked(owner: str) -> Refusal:
    return Refusal(
        403,
        OWNER_REVOKED,
        f"{owner}'s access was revoked by an administrator: no run of their jobs starts and no credentials were "
        "issued.",
    )


def owner_not_allowed(owner: str) -> Refusal:
    return Refusal(
        403,
        OWNER_NOT_ALLOWED,
        f"The hub no longer lets {owner} in (their Entra ID groups grant no access any more, or could not be "
        "checked): the run was not started and no credentials were issued.",
    )


def no_roles(job: Job) -> Refusal:
    return Refusal(
        403,
        errors.ROLE_NOT_ELIGIBLE,
        f"{job.owner} is no longer in any Entra ID group that grants an AWS role, so no credentials were issued for "
        f"the job {job.name!r}. They can ask to be added to one again.",
    )


def not_eligible_text(job: Job) -> str:
    """``decide_grant_for``'s refusal text for a job whose owner lost its role (``{roles}``: their roles now)."""
    return (
        f"{job.owner} is no longer eligible for the role of access group {job.access_group!r} this job runs with "
        "(their roles now: {roles}): no credentials were issued. The owner can edit the job to use one of their "
        "roles."
    )


def job_token_refusal(run: Run | None, job: Job | None, owner: str, max_run_seconds: int) -> Refusal:
    """Why a job token gets nothing: ``run`` is the latest run that had the token (None: no run had it), ``job``
    its job (None: deleted)."""
    if run is None or (job is not None and job.owner != owner):
        return Refusal(
            403,
            NOT_A_JOB_RUN_TOKEN,
            "This token is not the token of a scheduled run: a job's credentials go only to the run the scheduler "
            "started, with the token the broker made for it.",
        )
    of_job = f" of the job {job.name!r}" if job is not None else ""
    if run.is_open:
        return Refusal(
            403,
            JOB_RUN_ENDED,
            f"This scheduled run{of_job} has run longer than {max_run_seconds} seconds "
            "(NotebookJobs.max_run_seconds): it gets no more credentials.",
        )
    return Refusal(
        403,
        JOB_RUN_ENDED,
        f"This scheduled run{of_job} has ended ({run.state}: {run.reason or 'finished'}): its token no longer "
        "obtains credentials.",
    )


def run_expired(run: Run, now: datetime, max_run_seconds: int) -> bool:
    return run.started_at is None or (now - run.started_at).total_seconds() > max_run_seconds


@dataclass(frozen=True)
class RunPlace:
    """Where a run's files are, and what it is called in AWS."""

    bucket: str
    notebook_key: str  # the whole S3 key
    output_prefix: str  # home/<owner>/runs/<job id>/<run id>/


def run_place(deployment: Deployment, job: Job, run_id: str) -> RunPlace:
    home = deployment.home_location(safe_name(job.owner)).prefix
    return RunPlace(deployment.notebook_bucket, f"{home}{job.notebook_key}", f"{home}runs/{job.id}/{run_id}/")


def start_answer(
    *,
    run: Run,
    token: str,
    job: Job,
    session_name: str,
    place: RunPlace,
    broker_url: str,
    region: str,
    s3_endpoint_url: str,
) -> dict:
    """The scheduler's answer for a started run (``token`` is the run's hub token: never logged, never stored)."""
    return {
        "run_id": run.id,
        "token": token,
        "owner": job.owner,
        "session_name": session_name,
        "bucket": place.bucket,
        "notebook_key": place.notebook_key,
        "notebook_version": run.notebook_version,
        "parameters": run.parameters,
        "output_prefix": place.output_prefix,
        "broker_url": broker_url,
        "region": region,
        "s3_endpoint_url": s3_endpoint_url or None,
    }
