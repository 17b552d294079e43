"""Asking Airflow to start a job's DAG now ("Run now", "Run again exactly"), through Airflow 3's public REST API.

The page records the person's request in the job store first; this module then triggers the job's DAG
(``notebook-job-<job id>``) with ``conf={"request_id": ...}``. The run itself starts only when Airflow's task asks the
broker for it with that request id (consumed once): what Airflow is told here grants nothing by itself.

- :func:`trigger_body` and :func:`dag_run_id` (pure) build the request. The DAG run id is derived from the request id,
  so asking twice for the same request (a retry after a timeout) cannot start two runs: Airflow answers 409.
- :class:`AirflowClient` makes the calls: a JWT from ``POST /auth/token`` (username and password; kept until Airflow
  refuses it: 401 when it expired, 403 when Airflow no longer accepts it; then asked for once more), then
  ``POST /api/v2/dags/{dag_id}/dagRuns``.
- :class:`AirflowUnavailable` says, in words for the person on the page, why Airflow could not be asked; the request
  stays queued in the store, and :func:`resend_queued` (every ``AirflowApi.resend_seconds``) asks again.
- :class:`AirflowApi`: where Airflow's API is and which account the hub uses (``c.AirflowApi.<trait>``); the
  account's password comes from the environment variable :data:`PASSWORD_VARIABLE`, never from the config.

ref: https://airflow.apache.org/docs/apache-airflow/3.0.1/security/api.html (JWT from /auth/token, Bearer header)
ref: https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/auth-manager/simple/token.html (/auth/token)
ref: https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html (trigger_dag_run: the body's
     ``logical_date`` is required and may be null; ``dag_run_id``, ``conf``, ``note``; 409 when the run id exists)
"""

import json
import logging
import os
from collections.abc import Mapping
from urllib.parse import quote, urlparse

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..broker.contract import JOB_DAG_PREFIX
from .store import QUEUED, JobStore

log = logging.getLogger("aws_broker.jobs")

# Prefix of the DAG run ids this page asks for (Airflow's own are "scheduled__…" and "manual__…").
RUN_ID_PREFIX = "requested__"
# The environment variable holding the password of the hub's Airflow account (passed to the broker only).
PASSWORD_VARIABLE = "AIRFLOW_API_PASSWORD"  # noqa: S105 - a variable's name, not a secret


class AirflowApi(Configurable):
    """How the credential broker asks Airflow to start runs now. Configure as ``c.AirflowApi.<trait>``."""

    url = Unicode(
        "",
        config=True,
        help=f"""
        Airflow's API server as the credential broker reaches it, without a path (for example
        http://airflow-api-server:8080). Empty (default): "Run now" and "Run again exactly" record the request and
        say that no Airflow is set up. The hub signs in as `username` with the password in the
        {PASSWORD_VARIABLE} environment variable, which the hub passes to the broker only.
        """,
    )

    @validate("url")
    def _valid_url(self, proposal):
        parsed = urlparse(proposal.value)
        if proposal.value and (parsed.scheme not in ("http", "https") or not parsed.hostname):
            raise TraitError(f"AirflowApi.url must be an http:// or https:// URL with a host (got {proposal.value!r})")
        return proposal.value.rstrip("/")

    username = Unicode(
        "notebook-hub",
        config=True,
        help="""
        The Airflow account the hub uses to start runs (Airflow's auth manager must know it; with the simple auth
        manager, list it in `simple_auth_manager_users`). It needs to trigger DAG runs and nothing else.
        """,
    )

    timeout_seconds = Float(
        10,
        config=True,
        help="""
        Limit, in seconds, for each request to Airflow's API. Default 10. When Airflow does not answer in time the
        page says so and the run request stays queued.
        """,
    )

    resend_seconds = Float(
        30,
        config=True,
        help="""
        How often, in seconds, the broker asks Airflow again for run requests that are still waiting (Airflow was
        unreachable, or did not know the job yet, when they were made). Default 30. Asking twice never starts two runs.
        """,
    )

    @validate("timeout_seconds", "resend_seconds")
    def _positive(self, proposal):
        if proposal.value <= 0:
            raise TraitError(f"AirflowApi.{proposal.trait.name} must be more than 0 seconds (got {proposal.value!r})")
        return proposal.value

    def client(self, environ: Mapping[str, str] = os.environ) -> "AirflowClient | None":
        """The API client, or None when no Airflow is set up."""
        if not self.url:
            return None
        return AirflowClient(self.url, self.username, environ.get(PASSWORD_VARIABLE, ""), self.timeout_seconds)


def dag_id(job_id: str) -> str:
    return f"{JOB_DAG_PREFIX}{job_id}"


def dag_run_id(request_id: str) -> str:
    return f"{RUN_ID_PREFIX}{request_id}"


def trigger_body(request_id: str, note: str) -> dict:
    """The ``trigger_dag_run`` body: run as soon as possible (no logical date), carrying only the request id."""
    return {
        "dag_run_id": dag_run_id(request_id),
        "logical_date": None,
        "conf": {"request_id": request_id},
        "note": note,
    }


class AirflowUnavailable(Exception):
    """Airflow could not be asked to start the run. ``message`` is for the person; the log has the detail.
    ``job_unknown``: Airflow answered, but has no DAG for this job (yet); other jobs' requests may still go through."""

    def __init__(self, message: str, job_unknown: bool = False):
        self.message, self.job_unknown = message, job_unknown
        super().__init__(message)


STILL_QUEUED = "Your run request is kept and will be sent again; nothing has started yet."


class AirflowClient:
    """Airflow's public REST API, as one Airflow account (``NotebookJobs.airflow_api_username``)."""

    def __init__(self, api_url: str, username: str, password: str, timeout: float):
        self.api_url, self.username, self.password, self.timeout = api_url.rstrip("/"), username, password, timeout
        self.http = AsyncHTTPClient()
        self._token: str | None = None

    async def _post(self, path: str, body: dict, token: str | None = None):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = HTTPRequest(
            f"{self.api_url}{path}",
            method="POST",
            body=json.dumps(body),
            headers=headers,
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
        )
        return await self.http.fetch(request)

    async def _new_token(self) -> str:
        if not self.password:
            log.error("Airflow's API password is not set: the page cannot ask Airflow to start runs")
            raise AirflowUnavailable(
                f"The hub is not set up to ask Airflow to start runs. {STILL_QUEUED} Tell your administrator."
            )
        try:
            response = await self._post("/auth/token", {"username": self.username, "password": self.password})
        except HTTPClientError as e:
            if e.code in (401, 403):
                log.error("Airflow refused the hub's API account %r (%s) at /auth/token", self.username, e.code)
                raise AirflowUnavailable(
                    f"Airflow refused the hub's account, so the run could not be started. {STILL_QUEUED} Tell your "
                    "administrator."
                ) from None
            raise self._unreachable(e) from None
        except OSError as e:
            raise self._unreachable(e) from None
        return json.loads(response.body)["access_token"]

    async def trigger(self, job_id: str, request_id: str, note: str) -> None:
        """Ask Airflow to run the job's DAG now for ``request_id``. Returns when Airflow has the DAG run (or already
        had it); raises :class:`AirflowUnavailable` otherwise."""
        path = f"/api/v2/dags/{quote(dag_id(job_id), safe='')}/dagRuns"
        body = trigger_body(request_id, note)
        while True:
            fresh = self._token is None
            if fresh:
                self._token = await self._new_token()
            try:
                await self._post(path, body, self._token)
                return
            except HTTPClientError as e:
                if e.code in (401, 403) and not fresh:
                    # A kept JWT that expired (401) or that Airflow no longer accepts (403: restarted with another
                    # secret): ask for a new one, once.
                    self._token = None
                    continue
                if e.code == 409:  # this request's DAG run exists already (an earlier attempt reached Airflow)
                    return
                if e.code == 404:
                    log.warning("Airflow has no DAG %s yet", dag_id(job_id))
                    raise AirflowUnavailable(
                        "Airflow has not loaded this job yet (new and changed jobs reach it within a minute or two). "
                        f"{STILL_QUEUED}",
                        job_unknown=True,
                    ) from None
                if e.code in (401, 403):
                    log.error("Airflow refused to trigger %s for the hub's account (%s)", dag_id(job_id), e.code)
                    raise AirflowUnavailable(
                        f"Airflow refused to start the run for the hub. {STILL_QUEUED} Tell your administrator."
                    ) from None
                raise self._unreachable(e) from None
            except OSError as e:
                raise self._unreachable(e) from None

    def _unreachable(self, error) -> AirflowUnavailable:
        log.error("Airflow's API unavailable at %s: %s", self.api_url, getattr(error, "code", None) or error)
        return AirflowUnavailable(f"Airflow, which runs the jobs, did not answer. {STILL_QUEUED}")


async def resend_queued(store: JobStore, airflow: AirflowClient) -> int:
    """Ask Airflow again for every run request still waiting; returns how many Airflow now has. Runs as often as
    ``AirflowApi.resend_seconds``; a request Airflow already had is answered 409 and counts as sent."""
    sent = 0
    for job in store.jobs():
        if job.paused:
            continue
        for run in store.runs(job.id):
            if run.state != QUEUED or not run.request_id:
                continue
            try:
                await airflow.trigger(job.id, run.request_id, f"Run now by {run.requested_by} (sent again)")
            except AirflowUnavailable as e:
                if e.job_unknown:
                    break  # this job's DAG is not there yet: the other jobs' requests may go through
                return sent  # Airflow cannot be asked (the log says why): the next round tries again
            sent += 1
    return sent
