"""The Airflow side's calls to the credential broker's scheduler API (standard library only).

Every call carries the scheduler's hub service token (``Authorization: token ...``); the broker answers JSON, and a
refusal as ``{"error", "message"}`` with a status of 403, 404 or 409. The contract is spelled out in
``scheduler/README.md``; its paths and variable names live in :mod:`hub.broker.contract`.
"""

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from hub.broker.contract import (
    SCHEDULER_BROKER_URL_ENV,
    SCHEDULER_JOBS_PATH,
    SCHEDULER_RUNS_PATH,
    SCHEDULER_TOKEN_ENV,
)

# Seconds to wait for the broker: the DAG parser must not hang on it, and a run start is one small request.
TIMEOUT_SECONDS = 10


class BrokerUnreachable(Exception):
    """The broker did not answer (or answered something that is not its API)."""


class BrokerRefused(Exception):
    """The broker answered with a refusal; ``message`` is its reason in words."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class SchedulerAccess:
    broker_url: str
    token: str

    @classmethod
    def from_environment(cls, environ=None) -> "SchedulerAccess":
        environ = os.environ if environ is None else environ
        broker_url = environ.get(SCHEDULER_BROKER_URL_ENV, "").strip()
        token = environ.get(SCHEDULER_TOKEN_ENV, "").strip()
        if not broker_url or not token:
            missing = SCHEDULER_BROKER_URL_ENV if not broker_url else SCHEDULER_TOKEN_ENV
            raise BrokerUnreachable(
                f"{missing} is not set in Airflow's environment: set it to the broker's URL and the "
                "notebook-scheduler service's hub token"
            )
        return cls(broker_url, token)

    def url(self, path: str) -> str:
        return self.broker_url.rstrip("/") + "/" + path

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = TIMEOUT_SECONDS) -> dict:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL set by the admin
                answer = response.read()
        except urllib.error.HTTPError as e:
            raise refusal(e.code, e.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            why = getattr(e, "reason", None) or e
            raise BrokerUnreachable(
                f"the credential broker at {self.broker_url} could not be reached ({why})"
            ) from None
        try:
            parsed = json.loads(answer)
        except ValueError:
            raise BrokerUnreachable(f"the credential broker at {self.broker_url} answered something not JSON") from None
        if not isinstance(parsed, dict):
            raise BrokerUnreachable(f"the credential broker at {self.broker_url} answered something not an object")
        return parsed

    def list_jobs(self, timeout: float = TIMEOUT_SECONDS) -> dict:
        return self.call("GET", SCHEDULER_JOBS_PATH, timeout=timeout)

    def start_run(self, job_id: str, airflow_run_id: str, logical_date: str | None, request_id: str | None) -> dict:
        body = {
            "job_id": job_id,
            "airflow_run_id": airflow_run_id,
            "logical_date": logical_date,
            "request_id": request_id,
        }
        return self.call("POST", SCHEDULER_RUNS_PATH, body)

    def finish_run(self, run_id: str, state: str, reason: str | None, notebook_version: str | None) -> dict:
        body = {"state": state, "reason": reason, "notebook_version": notebook_version}
        return self.call("POST", f"{SCHEDULER_RUNS_PATH}/{run_id}/finish", body)


def refusal(status: int, body: bytes) -> BrokerRefused:
    """The broker's refusal, with its reason when it sent one in the contract's shape."""
    try:
        answer = json.loads(body)
        return BrokerRefused(status, str(answer["error"]), str(answer["message"]))
    except (ValueError, KeyError, TypeError):
        return BrokerRefused(status, "http_error", f"the credential broker answered HTTP {status}")
