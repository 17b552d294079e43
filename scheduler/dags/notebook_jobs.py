"""One Airflow DAG per scheduled notebook job, from the credential broker's job list.

DAG id ``notebook-job-<job id>``; a paused job keeps its DAG without a schedule (so "Run now" still works, and the
broker refuses a due run anyway). One task runs :func:`scheduler.run_notebook.run`. Airflow holds no AWS permission:
the run's credentials come from the broker, inside the run.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

# The repository's root (scheduler/ and hub/) is importable wherever this DAG folder is mounted beside it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow.sdk import DAG, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from scheduler import run_notebook
from scheduler.jobs import Job, current_jobs

# Any past date: with catchup off, Airflow starts from the next tick after the DAG appears.
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def run_job(job_id: str) -> None:
    context = get_current_context()
    dag_run = context["dag_run"]
    request_id = (dag_run.conf or {}).get("request_id")
    try:
        result = run_notebook.run(
            job_id,
            dag_run.run_id,
            context.get("logical_date"),
            request_id if isinstance(request_id, str) else None,
        )
    except run_notebook.RunFailed as e:
        raise AirflowFailException(e.reason) from None
    if result.state != "success":
        raise AirflowFailException(f"run {result.run_id} failed: {result.reason}")


def job_dag(job: Job) -> DAG:
    with DAG(
        dag_id=job.dag_id,
        description=f"{job.name} (owner {job.owner})",
        schedule=job.schedule,
        start_date=START_DATE,
        catchup=False,
        is_paused_upon_creation=False,
        tags=["notebook-job", job.owner],
        default_args={"retries": 0},  # a retry would be refused anyway: a run starts once
    ) as dag:
        task(task_id="run_notebook")(run_job)(job.id)
    return dag


for _job in current_jobs():
    globals()[_job.dag_id] = job_dag(_job)
