"""The benchmark's baseline only (benchmarks/scheduled_runs.py): the same notebooks, due at the same minute, run by
papermill with static keys in its environment: no broker, no run token, no credential_process. Never deployed.

The jobs come from the JSON file named by SCHEDULED_RUNS_STATIC_JOBS: {"endpoint", "region", "keys", "bucket",
"jobs": [{"id", "schedule", "notebook_key", "output_prefix"}]}.
"""

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import DAG, get_current_context, task

SETUP = json.loads(Path(os.environ["SCHEDULED_RUNS_STATIC_JOBS"]).read_text())


def run_with_static_keys(notebook_key: str, output_prefix: str) -> None:
    import boto3

    keys = {
        "aws_access_key_id": SETUP["keys"]["AccessKeyId"],
        "aws_secret_access_key": SETUP["keys"]["SecretAccessKey"],
    }
    s3 = boto3.client("s3", endpoint_url=SETUP["endpoint"], region_name=SETUP["region"], **keys)
    run_prefix = f"{output_prefix}{get_current_context()['dag_run'].run_id.replace(':', '-')}/"
    with tempfile.TemporaryDirectory(prefix="static-run-") as work:
        work = Path(work)
        s3.download_file(SETUP["bucket"], notebook_key, str(work / "input.ipynb"))
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(work),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": SETUP["region"],
            "AWS_ENDPOINT_URL": SETUP["endpoint"],
        }
        command = [sys.executable, "-m", "papermill", "input.ipynb", "output.ipynb", "--kernel", "python3"]
        subprocess.run([*command, "--no-progress-bar"], cwd=work, env=env, check=True, capture_output=True)
        s3.upload_file(str(work / "output.ipynb"), SETUP["bucket"], run_prefix + "output.ipynb")


for job in SETUP["jobs"]:
    with DAG(
        dag_id=f"static-job-{job['id']}",
        schedule=job["schedule"],
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        is_paused_upon_creation=False,
    ):
        task(task_id="run_notebook")(run_with_static_keys)(job["notebook_key"], job["output_prefix"])
