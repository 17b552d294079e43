"""Benchmark of scheduled notebook runs on this machine: many jobs of several people due in the same minute, on a real
Airflow (LocalExecutor, SQLite) with real papermill and kernels, moto as AWS.

(a) seconds from the due minute to the notebook's first cell having run with credentials (it calls STS
    GetCallerIdentity), for brokered runs (the run wrapper, the run token, credential_process, the broker) and for
    the same notebooks given static keys (benchmarks/scheduled_runs_static/); the ratio of the medians;
(b) STS calls per brokered run;
(c) the broker's p99 latency during the burst.

The broker here is the stand-in for the scheduler contract (tests/fixtures/scheduler_broker.py): it mints on every
credential request, without the real broker's cache, so (b) is an upper bound and (c) is the stand-in's, until the
benchmark is pointed at the real broker (hub/jobs/).

    .venv/bin/python benchmarks/scheduled_runs.py                         # 50 jobs of 10 people (several minutes)
    .venv/bin/python benchmarks/scheduled_runs.py --jobs 4 --people 2     # a quick look
"""

import argparse
import json
import os
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
from common import percentile  # noqa: E402

from scheduler.local_airflow import AirflowSettings, LocalAirflow  # noqa: E402
from tests.fixtures.scheduler_broker import ACCOUNT, SchedulerBrokerStandIn, StandInJob  # noqa: E402
from tests.fixtures.servers import free_port, local_aws_client, start_moto, stop  # noqa: E402

REGION = "us-east-1"
BUCKET = "notebooks"
ROLE = "analysts"
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


def brokered(args, tmp: Path, moto: str, s3, people: list[str]) -> tuple[list[float], float, float]:
    with SchedulerBrokerStandIn(moto, REGION, MOTO_KEYS) as broker:
        settings = AirflowSettings(
            tmp / "brokered", free_port(), broker.url, broker.service_token, parallelism=args.parallelism
        )
        airflow = LocalAirflow(settings)
        try:
            airflow.migrate()
            airflow.start()
            # The jobs appear once Airflow is up and idle, due in the same minute soon after (next parse: 5 s).
            due = next_due_minute(args.lead_seconds)
            due_iso = due.strftime("%Y-%m-%dT%H:%M:%SZ")
            for i in range(args.jobs):
                owner = people[i % len(people)]
                job = StandInJob(
                    f"bench{i:05d}", owner, f"job {i}", daily_at(due), ROLE, BUCKET, f"home/{owner}/b{i}.ipynb"
                )
                broker.jobs[job.id] = job

            def runs():
                return [r for r in list(broker.runs.values()) if r.finished and r.logical_date == due_iso]

            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            broker.latencies.clear()  # the burst only, not the DAG parses before it
            wait_for(lambda: len(runs()), args.jobs, args.run_timeout)
        finally:
            airflow.stop()
        finished = runs()
        failed = [r for r in finished if r.state != "success"]
        if len(finished) < args.jobs or failed:
            raise SystemExit(f"brokered: {len(finished)} of {args.jobs} runs finished, failed: {failed[:3]}")
        waits = []
        for run in finished:
            key = f"home/{broker.jobs[run.job_id].owner}/runs/{run.job_id}/{run.run_id}/output.ipynb"
            waits.append(first_cell_at(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) - due.timestamp())
        sts_per_run = len(broker.issued) / len(finished)
        return waits, sts_per_run, percentile(broker.latencies, 0.99)


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
            iam = local_aws_client("iam", moto, REGION, MOTO_KEYS)
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}}]}
            iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
            s3 = local_aws_client("s3", moto, REGION, MOTO_KEYS)
            s3.create_bucket(Bucket=BUCKET)
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
    print(f"(b) STS calls per run: {sts_per_run:.1f} (the stand-in broker mints on every request)")
    print(f"(c) broker p99 during the burst: {broker_p99 * 1000:.0f} ms (the stand-in)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
