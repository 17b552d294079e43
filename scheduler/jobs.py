"""Which DAGs exist: the broker's job list, checked, and the last good one kept in a file.

The DAG file calls :func:`current_jobs` at every parse. When the broker cannot be reached (or answers nonsense),
the DAGs of the last good answer stay, so a broker restart does not make every job vanish from Airflow and come back.
Nothing here imports Airflow.
"""

import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from hub.broker.contract import JOB_DAG_PREFIX

from .broker_client import BrokerRefused, BrokerUnreachable, SchedulerAccess

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"[a-z0-9]{10}")
# The parser must answer quickly: a slow broker means the cached list, not a stuck dag-processor.
LIST_TIMEOUT_SECONDS = 5
CACHE_FILE_NAME = "notebook-jobs.json"


class BadJobList(ValueError):
    pass


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    name: str
    schedule: str | None  # None: paused (runs only when asked for on the hub's page)

    @property
    def dag_id(self) -> str:
        return JOB_DAG_PREFIX + self.id


def jobs_from_answer(answer: dict) -> list[Job]:
    """The jobs in the broker's ``GET v1/scheduler/jobs`` answer; :class:`BadJobList` if it is not that shape."""
    entries = answer.get("jobs") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        raise BadJobList('the answer has no "jobs" list')
    jobs = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadJobList("a job is not an object")
        job_id, schedule = entry.get("id"), entry.get("schedule")
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise BadJobList(f"job id {job_id!r} is not 10 lowercase letters or digits")
        if job_id in jobs:
            raise BadJobList(f"job {job_id} is listed twice")
        if not isinstance(schedule, str) or not schedule.strip():
            raise BadJobList(f"job {job_id} has no schedule")
        if not isinstance(entry.get("paused"), bool):
            raise BadJobList(f"job {job_id} does not say whether it is paused")
        jobs[job_id] = Job(
            id=job_id,
            owner=str(entry.get("owner", "")),
            name=str(entry.get("name", "")),
            schedule=None if entry["paused"] else schedule,
        )
    return sorted(jobs.values(), key=lambda job: job.id)


def default_cache_path(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    airflow_home = environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(airflow_home) / CACHE_FILE_NAME


def read_cache(path: Path) -> list[Job]:
    try:
        return [Job(**entry) for entry in json.loads(path.read_text())]
    except FileNotFoundError:
        return []
    except (ValueError, TypeError) as e:
        log.error("The cached job list %s is unreadable (%s); no notebook job DAGs until the broker answers", path, e)
        return []


def write_cache(path: Path, jobs: list[Job]) -> None:
    """Replace the cache in one rename, so a parser never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".notebook-jobs-", delete=False) as f:
        json.dump([asdict(job) for job in jobs], f)
    os.replace(f.name, path)


def current_jobs(fetch=None, cache_path: Path | None = None) -> list[Job]:
    """The broker's job list now, or the last good one when it cannot give one. Never raises."""
    cache_path = cache_path or default_cache_path()
    try:
        answer = fetch() if fetch else SchedulerAccess.from_environment().list_jobs(timeout=LIST_TIMEOUT_SECONDS)
        jobs = jobs_from_answer(answer)
    except (BrokerUnreachable, BrokerRefused, BadJobList) as e:
        cached = read_cache(cache_path)
        log.error("Notebook jobs: %s; keeping the %d job(s) of the last good answer", e, len(cached))
        return cached
    try:
        write_cache(cache_path, jobs)
    except OSError as e:
        log.error("Notebook jobs: the job list could not be cached in %s (%s)", cache_path, e)
    return jobs
