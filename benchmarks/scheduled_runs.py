"""Benchmark of scheduled notebook runs on this machine: many jobs of several people due in the same minute, on a real
Airflow (LocalExecutor, SQLite) with real papermill and kernels, moto as AWS.

(a) seconds from the due minute to the notebook's first cell having run with credentials (it calls STS
    GetCallerIdentity), for brokered runs (the run wrapper, the run token, credential_process, the broker) and for
    the same notebooks given static keys (benchmarks/scheduled_runs_static/); the ratio of the medians;
(b) STS calls per brokered run;
(c) the broker's p99 latency during the burst.

The brokered runs go through the real hub and broker (the tests' single-machine hub, its job store, moto behind the
tests' recording STS endpoint): (b) counts the AssumeRole calls STS saw for the runs' sessions, and (c) is read from the
broker's own request-time histogram (``aws_broker_request_seconds``), so it is the upper bound of the bucket that
holds the 99th percentile.

    .venv/bin/python benchmarks/scheduled_runs.py                         # 50 jobs of 10 people (several minutes)
    .venv/bin/python benchmarks/scheduled_runs.py --jobs 4 --people 2     # a quick look
"""

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
import requests  # noqa: E402

from hub.broker.contract import SCHEDULER_TOKEN_ENV  # noqa: E402
from hub.jobs.store import FAILED, SUCCESS, JobStore  # noqa: E402
from scheduler.local_airflow import AirflowSettings, LocalAirflow  # noqa: E402
from tests.fixtures.jupyterhub import BUCKET, create_bucket, person, start_hub, stop_hub  # noqa: E402
from tests.fixtures.servers import free_port, local_aws_client, start_moto, stop  # noqa: E402

REGION = "us-east-1"
ROLE = "analysts"  # the access group of the tests' policy every owner is in
MOTO_KEYS = {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
STATIC_DAGS = REPO / "benchmarks" / "scheduled_runs_static"
FIRST_CELL = (
    "import json, time\nimport boto3\n"
    'boto3.client("sts").get_caller_identity()\n'
    'print(json.dumps({"first_cell_at": time.time()}))'
)


def notebook() -> bytes:
    cell = nbformat.v4.new_code_cell(FIRST_CELL)
    book = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell("total = sum(range(1000))")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(book).encode()


def first_cell_at(executed: bytes) -> float:
    for output in json.loads(executed)["cells"][0].get("outputs", []):
        if output.get("output_type") == "stream":
            return json.loads("".join(output["text"]).strip())["first_cell_at"]
    raise ValueError("the first cell printed nothing")


def next_due_minute(lead_seconds: float) -> datetime:
    """The first whole minute at least ``lead_seconds`` away: time for the dag-processor to parse the new DAGs."""
    soon = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


def daily_at(due: datetime) -> str:
    return f"{due.minute} {due.hour} * * *"


def wait_for(done, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and done() < count:
        time.sleep(2)


def broker_p99(hub, since: dict) -> float:
    """The 99th percentile of the broker's answers since ``since`` (a snapshot of :func:`broker_histogram`), as the
    upper bound of its histogram bucket."""
    now = broker_histogram(hub)
    counts = {bound: now[bound] - since.get(bound, 0) for bound in now}
    total = counts[float("inf")]
    return next(bound for bound in sorted(counts) if counts[bound] >= 0.99 * total)


def broker_histogram(hub) -> dict:
    """Cumulative count of the broker's answers (every endpoint) by bucket bound."""
    text = requests.get(
        f"{hub.broker_url()}metrics", headers={"Authorization": f"token {hub.admin_token}"}, timeout=30
    ).text
    counts: dict[float, float] = {}
    for bound, value in re.findall(r'^aws_broker_request_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$', text, re.M):
        counts[float(bound)] = counts.get(float(bound), 0) + float(value)
    return counts


def brokered(args, tmp: Path, moto: str, s3, people: list[str]) -> tuple[list[float], float, float]:
    token = secrets.token_hex(32)
    hub = start_hub(tmp / "hub", moto, extra_env={SCHEDULER_TOKEN_ENV: token})
    store = JobStore(str(hub.state / "notebook-jobs.sqlite"))
    try:
        hub.add_people({name: person(ROLE) for name in people})
        for name in people:
            hub.login(name)  # once: the runs need no one signed in
        settings = AirflowSettings(tmp / "brokered", free_port(), hub.broker_url(), token, parallelism=args.parallelism)
        airflow = LocalAirflow(settings)
        try:
            airflow.migrate()
            airflow.start()
            # The jobs appear once Airflow is up and idle, due in the same minute soon after (next parse: 5 s).
            due = next_due_minute(args.lead_seconds)
            jobs = [
                store.create_job(
                    owner=people[i % len(people)],
                    name=f"job {i}",
                    notebook_key=f"b{i}.ipynb",
                    schedule=daily_at(due),
                    access_group=ROLE,
                    parameters={},
                )
                for i in range(args.jobs)
            ]

            def finished():
                return [r for job in jobs for r in store.runs(job.id) if r.state in (SUCCESS, FAILED)]

            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            before = broker_histogram(hub)  # the burst only, not the DAG parses before it
            wait_for(lambda: len(finished()), args.jobs, args.run_timeout)
            p99 = broker_p99(hub, before)
        finally:
            airflow.stop()
        runs = finished()
        failed = [r for r in runs if r.state != SUCCESS]
        if len(runs) < args.jobs or failed:
            raise SystemExit(f"brokered: {len(runs)} of {args.jobs} runs finished, failed: {failed[:3]}")
        owners = {job.id: job.owner for job in jobs}
        waits = []
        for run in runs:
            key = f"home/{owners[run.job_id]}/runs/{run.job_id}/{run.id}/output.ipynb"
            waits.append(first_cell_at(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) - due.timestamp())
        sts_calls = sum(len(hub.sts.assume_role_calls(f"{owners[job.id]}-job-{job.id}")) for job in jobs)
        return waits, sts_calls / len(runs), p99
    finally:
        store.close()
        stop_hub(hub)


def static(args, tmp: Path, moto: str, s3, people: list[str]) -> list[float]:
    setup = tmp / "static-jobs.json"

    def write_setup(jobs: list[dict]) -> None:
        content = {"endpoint": moto, "region": REGION, "keys": MOTO_KEYS, "bucket": BUCKET, "jobs": jobs}
        setup.write_text(json.dumps(content))

    write_setup([])
    # No broker in this variant: its URL and token are never used.
    settings = AirflowSettings(
        tmp / "static",
        free_port(),
        "http://127.0.0.1:9/",
        "unused",
        parallelism=args.parallelism,
        dags_folder=STATIC_DAGS,
    )
    airflow = LocalAirflow(settings, base_env={**os.environ, "SCHEDULED_RUNS_STATIC_JOBS": str(setup)})
    keys: set[str] = set()

    def done() -> int:
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="static-runs/").get("Contents", [])
        return len({o["Key"] for o in listing} & keys)

    try:
        airflow.migrate()
        airflow.start()
        due = next_due_minute(args.lead_seconds)
        run_folder = f"scheduled__{due.isoformat()}".replace(":", "-")
        jobs = [
            {
                "id": f"static{i:04d}",
                "schedule": daily_at(due),
                "notebook_key": f"home/{people[i % len(people)]}/b{i}.ipynb",
                "output_prefix": f"static-runs/static{i:04d}/",
            }
            for i in range(args.jobs)
        ]
        write_setup(jobs)
        keys |= {f"{job['output_prefix']}{run_folder}/output.ipynb" for job in jobs}
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        wait_for(done, args.jobs, args.run_timeout)
    finally:
        airflow.stop()
    if done() < args.jobs:
        raise SystemExit(f"static keys: {done()} of {args.jobs} runs finished; see {tmp / 'static'}")
    return [first_cell_at(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) - due.timestamp() for k in keys]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50, help="jobs due in the same minute")
    parser.add_argument("--people", type=int, default=10, help="owners the jobs are spread over")
    parser.add_argument("--parallelism", type=int, default=8, help="Airflow's runs at once (LocalExecutor workers)")
    parser.add_argument(
        "--lead-seconds", type=float, default=20, help="jobs appear at least this long before they are due"
    )
    parser.add_argument("--run-timeout", type=float, default=600, help="seconds after the due minute to give up")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop Airflow and moto on the way out

    with tempfile.TemporaryDirectory(prefix="scheduled-runs-benchmark-") as tmp:
        tmp = Path(tmp)
        moto, moto_proc = start_moto(tmp)
        try:
            create_bucket(moto)  # the tests' hub's notebook bucket
            s3 = local_aws_client("s3", moto, REGION, MOTO_KEYS)
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
            people = [f"person{p:02d}" for p in range(args.people)]
            for i in range(args.jobs):
                s3.put_object(Bucket=BUCKET, Key=f"home/{people[i % len(people)]}/b{i}.ipynb", Body=notebook())

            with_broker, sts_per_run, broker_p99 = brokered(args, tmp, moto, s3, people)
            with_static = static(args, tmp, moto, s3, people)
        finally:
            stop(moto_proc)

    print(f"{args.jobs} jobs of {args.people} people due in the same minute, Airflow parallelism {args.parallelism}")
    print("(a) seconds from due to the first cell having run with credentials (median, max)")
    print(f"    brokered   : {statistics.median(with_broker):6.1f}  {max(with_broker):6.1f}")
    print(f"    static keys: {statistics.median(with_static):6.1f}  {max(with_static):6.1f}")
    print(
        f"    ratio of medians brokered/static: {statistics.median(with_broker) / statistics.median(with_static):.2f}"
    )
    print(f"(b) STS calls per run: {sts_per_run:.2f}")
    print(f"(c) broker p99 during the burst: <= {broker_p99 * 1000:.0f} ms (its request-time histogram's bucket)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
