"""The scheduler's API, under the broker's prefix: the HTTP contract between the Airflow side (``scheduler/``) and the
broker. Every request carries ``Authorization: token <the notebook-scheduler service's hub token>``; the broker asks
the hub whose token it is (a service named ``contract.SCHEDULER_SERVICE_NAME`` holding ``RUN_JOBS_SCOPE``).

- ``GET v1/scheduler/jobs`` -> ``{"jobs": [{"id", "owner", "name", "schedule" (cron, UTC; null when paused),
  "paused"}]}``. The DAG id is ``notebook-job-<id>``.
- ``POST v1/scheduler/runs`` ``{"job_id", "airflow_run_id", "logical_date": ISO 8601 with zone or null,
  "request_id": str or null}`` -> 200 ``{"run_id", "token", "owner", "session_name", "bucket", "notebook_key" (the
  whole S3 key), "notebook_version" (pinned by "Run again exactly", else null: the latest), "parameters",
  "output_prefix": "home/<owner>/runs/<job id>/<run id>/", "broker_url", "region", "s3_endpoint_url"}``. ``token``
  is the run's own hub token (only ``JOB_SCOPE!user=<owner>``, expiring after ``NotebookJobs.max_run_seconds``):
  the run's credential helper sends it to ``GET v1/credentials``. Refusals: 400 (bad body), 403 (not the scheduler,
  owner not eligible or revoked), 404 (no such job), 409 (paused, not due, already started), 502/503 (the hub);
  each a JSON ``{"error", "message"}``, and a refused start of an existing job is recorded as a failed run with
  that message.
- ``POST v1/scheduler/runs/<run id>/finish`` ``{"state": "success"|"failed", "reason": str or null,
  "notebook_version": str or null}`` -> 200 ``{"run_id", "state"}``; the run's token is deleted at once.
"""

import json

from ..broker.contract import SCHEDULER_JOBS_PATH, SCHEDULER_RUNS_PATH, SCHEDULER_TOKEN_ENV
from ..broker.errors import Refusal
from ..broker.service import BaseHandler
from . import scheduling
from .runs import JobRuns
from .store import ID_LENGTH


class SchedulerHandler(BaseHandler):
    @property
    def jobs(self) -> JobRuns:
        return self.broker.jobs

    async def prepare(self):
        try:
            whoami = await self.broker.hub.whoami(self.token())
        except Refusal as refusal:
            if refusal.status != 403:
                raise
            raise Refusal(
                403,
                scheduling.NOT_THE_SCHEDULER,
                f"This is not a valid hub token: the scheduler sends its hub service token ({SCHEDULER_TOKEN_ENV}).",
            ) from None
        scheduling.scheduler_identity(whoami)


class SchedulerJobsHandler(SchedulerHandler):
    def get(self):
        self.finish(json.dumps({"jobs": self.jobs.scheduler_jobs()}))


class SchedulerRunsHandler(SchedulerHandler):
    async def post(self):
        answer = await self.jobs.start(scheduling.parse_start(self.request.body))
        self.finish(json.dumps(answer))


class SchedulerFinishHandler(SchedulerHandler):
    async def post(self, run_id: str):
        run = await self.jobs.finish(run_id, scheduling.parse_finish(self.request.body))
        self.finish(json.dumps({"run_id": run.id, "state": run.state}))


def scheduler_routes(prefix: str) -> list:
    return [
        (rf"{prefix}{SCHEDULER_JOBS_PATH}", SchedulerJobsHandler),
        (rf"{prefix}{SCHEDULER_RUNS_PATH}", SchedulerRunsHandler),
        (rf"{prefix}{SCHEDULER_RUNS_PATH}/([a-z0-9]{{{ID_LENGTH}}})/finish", SchedulerFinishHandler),
    ]
