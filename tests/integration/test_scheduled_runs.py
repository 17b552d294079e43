"""Scheduled notebook runs, the Airflow side: real Airflow (``airflow dags test`` and a real scheduler), real papermill
and kernel, moto for STS and S3, and a stand-in for the broker's scheduler contract (tests/fixtures/scheduler_broker.py;
the real broker side is tested with the hub).
"""

import hashlib
import json
import os
import pwd
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
import requests

from hub.broker.contract import SCHEDULER_BROKER_URL_ENV, SCHEDULER_TOKEN_ENV
from scheduler.local_airflow import AIRFLOW_VENV, AirflowSettings, LocalAirflow
from scheduler.run_as import RUN_AS_USER_ENV
from tests.fixtures.scheduler_broker import ACCOUNT, SchedulerBrokerStandIn, StandInJob
from tests.fixtures.servers import REPO, free_port, local_aws_client
from tests.fixtures.tools import missing_tool

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUCKET = "notebooks"
ROLE = "analysts"
MOTO_KEYS = {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
DAGS_TEST_TIMEOUT = 240

# The test notebook: parameters, who it runs as (STS and the credentials the SDK got), and its environment as names
# with hashes of the values (so the executed notebook in S3 holds no secret while the test can still find one).
PARAMETERS_CELL = 'greeting = "default"\nrepeat = 1'
WORK_CELLS = [
    "import hashlib, json, os\nimport boto3\n"
    'identity = boto3.client("sts").get_caller_identity()\n'
    "key = boto3.Session().get_credentials().get_frozen_credentials().access_key\n"
    'print(json.dumps({"arn": identity["Arn"], "access_key_id": key}))',
    'print(json.dumps({"greeting": greeting * repeat, "version": VERSION}))',
    "print(json.dumps({'environment': {name: hashlib.sha256(value.encode()).hexdigest() "
    "for name, value in os.environ.items()}, 'aws_config_file_mode': oct(os.stat(os.environ['AWS_CONFIG_FILE'])"
    ".st_mode & 0o777), 'shared_credentials_file': os.environ['AWS_SHARED_CREDENTIALS_FILE']}))",
]


def notebook_bytes(version: str, extra_cells: list[str] = ()) -> bytes:
    cells = [nbformat.v4.new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]})]
    cells.append(nbformat.v4.new_code_cell(f"VERSION = {version!r}"))
    cells += [nbformat.v4.new_code_cell(source) for source in [*extra_cells, *WORK_CELLS]]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(notebook).encode()


def printed(notebook: dict) -> dict:
    """Every JSON object the notebook's cells printed, merged."""
    merged = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                for line in "".join(output["text"]).splitlines():
                    if line.startswith("{"):
                        merged.update(json.loads(line))
    return merged


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def aws(moto_endpoint):
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    iam = local_aws_client("iam", moto_endpoint, REGION, MOTO_KEYS)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "*"}]}
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    s3 = local_aws_client("s3", moto_endpoint, REGION, MOTO_KEYS)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return moto_endpoint, s3


@pytest.fixture(scope="module")
def broker(aws):
    with SchedulerBrokerStandIn(aws[0], REGION, MOTO_KEYS) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def airflow(broker, tmp_path_factory):
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        missing_tool("Airflow's virtualenv (.venv-airflow)", "run `make airflow-venv`")
    home = tmp_path_factory.mktemp("airflow")
    local = LocalAirflow(AirflowSettings(home, free_port(), broker.url, broker.service_token))
    local.migrate()
    yield local
    local.stop()


@pytest.fixture
def job(broker, request):
    """A job of sam's (each test its own id), removed from the broker's list afterwards."""
    job_id = sha256(request.node.name)[:10]
    new = StandInJob(job_id, "sam", request.node.name, "0 3 * * *", ROLE, BUCKET, f"home/sam/{job_id}.ipynb")
    broker.jobs[job_id] = new
    yield new
    broker.jobs.pop(job_id, None)


def put_notebook(s3, key: str, content: bytes) -> str:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=content)["VersionId"]


def run_now(airflow: LocalAirflow, broker: SchedulerBrokerStandIn, job: StandInJob) -> subprocess.CompletedProcess:
    """What "Run now" does: a request id recorded by the broker, the job's DAG run with it in its conf."""
    conf = json.dumps({"request_id": broker.ask_for_run(job.id)})
    return subprocess.run(
        [airflow.settings.airflow, "dags", "test", f"notebook-job-{job.id}", "--conf", conf],
        env=airflow.env,
        cwd=airflow.settings.home,
        capture_output=True,
        text=True,
        timeout=DAGS_TEST_TIMEOUT,
        check=False,
    )


def outputs(s3, job: StandInJob) -> dict[str, bytes]:
    prefix = f"home/{job.owner}/runs/{job.id}/"
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


def only_run(broker: SchedulerBrokerStandIn, job: StandInJob):
    runs = broker.runs_of(job.id)
    assert len(runs) == 1, runs
    assert runs[0].finished
    return runs[0]


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_run_now_executes_the_current_notebook_with_the_owners_job_credentials(airflow, broker, aws, job):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1"))
    current = put_notebook(s3, job.notebook_key, notebook_bytes("v2"))
    job.parameters = {"greeting": "hello ", "repeat": 2}

    result = run_now(airflow, broker, job)

    run = only_run(broker, job)
    assert (run.state, run.reason, run.notebook_version) == ("success", None, current), result.stdout[-3000:]
    prefix = f"home/sam/runs/{job.id}/{run.run_id}/"
    stored = outputs(s3, job)
    assert sorted(stored) == [prefix + "output.ipynb", prefix + "run.log"]
    executed = json.loads(stored[prefix + "output.ipynb"])
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "".join(injected[0]["source"]) == '# Parameters\ngreeting = "hello "\nrepeat = 2\n'
    seen = printed(executed)
    assert seen["greeting"] == "hello hello " and seen["version"] == "v2"
    # The notebook ran as the job's STS session of the owner's role, with credentials the broker issued to this run.
    assert seen["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/sam-job-{job.id}"
    issued_to_run = {i["access_key_id"] for i in broker.issued if i["run_id"] == run.run_id}
    assert seen["access_key_id"] in issued_to_run
    # Its environment: the run's token and the private config, nothing of Airflow's, not the scheduler's token.
    environment = seen["environment"]
    assert [name for name in environment if name.startswith(("AIRFLOW", "NOTEBOOK_SCHEDULER"))] == []
    assert sha256(broker.service_token) not in environment.values()
    assert sha256(airflow.secrets.jwt_secret) not in environment.values()
    assert environment["JUPYTERHUB_API_TOKEN"] == sha256(run.token)
    assert (seen["aws_config_file_mode"], seen["shared_credentials_file"]) == ("0o600", "/dev/null")
    assert environment["AWS_EC2_METADATA_DISABLED"] == sha256("true")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} & set(environment)
    log = stored[prefix + "run.log"].decode()
    assert log.startswith(f"Notebook s3://{BUCKET}/{job.notebook_key}, version {current}, run {run.run_id}\n")
    # The run token is in no Airflow database row, log or output.
    assert run.token not in result.stdout + result.stderr
    assert files_holding(airflow.settings.home, run.token) == []


def test_run_again_exactly_uses_the_pinned_notebook_version(airflow, broker, aws, job):
    _, s3 = aws
    first = put_notebook(s3, job.notebook_key, notebook_bytes("v1"))
    put_notebook(s3, job.notebook_key, notebook_bytes("v2"))
    job.notebook_version = first

    run_now(airflow, broker, job)

    run = only_run(broker, job)
    assert (run.state, run.notebook_version) == ("success", first)
    executed = json.loads(outputs(s3, job)[f"home/sam/runs/{job.id}/{run.run_id}/output.ipynb"])
    assert printed(executed)["version"] == "v1"


def test_a_notebook_that_raises_fails_with_the_cell_and_exception_and_keeps_its_output(airflow, broker, aws, job):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1", ['raise ValueError(f"no rows for {greeting}")']))
    job.parameters = {"greeting": "monday"}

    result = run_now(airflow, broker, job)

    run = only_run(broker, job)
    reason = (
        'cell In [4] (starting "raise ValueError(f"no rows for {greeting}")") raised ValueError: no rows for monday'
    )
    assert (run.state, run.reason) == ("failed", reason)
    assert reason in result.stdout + result.stderr  # the Airflow task failed with it
    stored = outputs(s3, job)
    prefix = f"home/sam/runs/{job.id}/{run.run_id}/"
    assert sorted(stored) == [prefix + "output.ipynb", prefix + "run.log"]
    executed = json.loads(stored[prefix + "output.ipynb"])
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert [(e["ename"], e["evalue"]) for e in errors] == [("ValueError", "no rows for monday")]
    assert "ValueError" in stored[prefix + "run.log"].decode()


def test_a_missing_notebook_fails_with_its_location_and_writes_nothing(airflow, broker, aws, job):
    _, s3 = aws
    job.notebook_key = "home/sam/gone.ipynb"

    run_now(airflow, broker, job)

    run = only_run(broker, job)
    assert (run.state, run.reason) == ("failed", f"the notebook s3://{BUCKET}/home/sam/gone.ipynb does not exist")
    assert outputs(s3, job) == {}


def test_a_refused_run_start_shows_the_brokers_reason_and_gets_no_credentials(airflow, broker, aws, job):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1"))
    message = "sam is no longer in the Entra group that grants the role analysts, so this job cannot run."
    job.refuse_start = (403, "not_eligible", message)

    result = run_now(airflow, broker, job)

    assert broker.runs_of(job.id) == []
    assert broker.refused_starts[-1] == {"job_id": job.id, "state": "failed", "reason": message}
    assert f"the credential broker refused to start the run: {message}" in result.stdout + result.stderr
    assert outputs(s3, job) == {}


def test_refused_credentials_fail_the_run_with_the_brokers_message_and_write_nothing(airflow, broker, aws, job):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1"))
    job.refuse_credentials = "sam's access was revoked by an administrator."

    run_now(airflow, broker, job)

    run = only_run(broker, job)
    assert (run.state, run.reason) == (
        "failed",
        "AWS credentials were refused: sam's access was revoked by an administrator.",
    )
    assert [i for i in broker.issued if i["run_id"] == run.run_id] == []
    assert outputs(s3, job) == {}


def parsed_dags(airflow: LocalAirflow, broker_url: str) -> tuple[list[str], str]:
    """The DAG ids Airflow gets from parsing the DAG folder now, and what it printed."""
    env = {**airflow.env, "NOTEBOOK_SCHEDULER_BROKER_URL": broker_url}
    result = subprocess.run(
        [airflow.settings.airflow, "dags", "list", "--local", "--output", "json"],
        env=env,
        cwd=airflow.settings.home,
        capture_output=True,
        text=True,
        timeout=DAGS_TEST_TIMEOUT,
        check=True,
    )
    listing = next(line for line in result.stdout.splitlines() if line.startswith("["))
    return sorted(dag["dag_id"] for dag in json.loads(listing)), result.stdout + result.stderr


def test_while_the_broker_is_down_the_dags_of_its_last_answer_stay(airflow, broker, job):
    cache = airflow.settings.home / "notebook-jobs.json"
    down = f"http://127.0.0.1:{free_port()}/services/aws-credentials/"
    assert parsed_dags(airflow, broker.url)[0] == [f"notebook-job-{job.id}"]

    assert parsed_dags(airflow, down)[0] == [f"notebook-job-{job.id}"]

    cache.unlink()
    dag_ids, output = parsed_dags(airflow, down)
    assert dag_ids == []  # no cache, no broker: no DAGs, and no import error either
    assert "Traceback" not in output


def test_the_scheduler_runs_a_due_job_on_its_schedule_with_nobody_signed_in(airflow, broker, aws, job):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1"))
    job.schedule = "* * * * *"
    paused = StandInJob("pausedjob1", "sam", "paused", "* * * * *", ROLE, BUCKET, job.notebook_key, paused=True)
    broker.jobs[paused.id] = paused
    try:
        airflow.start()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(r.finished for r in broker.runs_of(job.id)):
            time.sleep(2)
    finally:
        airflow.stop()
        del broker.jobs[paused.id]

    runs = [r for r in broker.runs_of(job.id) if r.finished]
    assert runs, "the scheduler started no run within 180 s"
    run = runs[0]
    assert (run.state, run.request_id) == ("success", None)
    assert run.logical_date is not None and run.logical_date.endswith(":00Z")  # a tick of the schedule
    assert run.airflow_run_id.startswith("scheduled__")
    assert f"home/sam/runs/{job.id}/{run.run_id}/output.ipynb" in outputs(s3, job)
    # The paused job's DAG has no schedule: nothing asked to start it.
    assert broker.runs_of(paused.id) == []
    assert [r for r in broker.refused_starts if r["job_id"] == paused.id] == []


# ---- the notebook as another OS user than the task (NOTEBOOK_RUN_AS_USER, scheduler/run_as.py) ---------------------

NOTEBOOK_USER = "nobody"  # an unprivileged user every Linux has
NOTEBOOK_PACKAGES = ("papermill", "ipykernel", "boto3")
# Run by the kernel: who it runs as, and what it can read of the task's secrets: the environment of each of its
# ancestor processes (the task holds the scheduler's token there, as in a job pod), a root-only token file as the
# Kubernetes Secret volume would mount it, and the task's working folder.
SEPARATION_CELL = """
import json, os
def attempt(read):
    try:
        return read()
    except OSError as e:
        return type(e).__name__
def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        names = [entry.split(b"=", 1)[0] for entry in f.read().split(b"\\0")]
    return "holds the scheduler's token" if b"NOTEBOOK_SCHEDULER_TOKEN" in names else "read"
def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":\\t", 1) for line in f.read().splitlines() if ":\\t" in line)
ancestors, pid = [], int(status(os.getpid())["PPid"])
while pid > 1 and len(ancestors) < 6:
    ancestors.append({"pid": pid, "uid": int(status(pid)["Uid"].split()[0]), "environ": attempt(lambda: environ(pid))})
    pid = int(status(pid)["PPid"])
folder = os.path.dirname(os.environ["HOME"])
print(json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "capabilities": status("self")["CapEff"].strip(),
    "ancestors": ancestors,
    "pid_1_environ": attempt(lambda: environ(1)),
    "token_file": attempt(lambda: open(token_file).read() and "read"),
    "home": os.environ["HOME"],
    "folder_owner": os.stat(folder).st_uid, "folder_mode": oct(os.stat(folder).st_mode & 0o777),
    "task_folder_listing": attempt(lambda: os.listdir(os.path.dirname(folder)) and "listed"),
}))
"""


def runs_python_3_11(user: str, python: str) -> bool:
    check = [python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
    try:
        return subprocess.run(check, user=user, cwd="/", capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:  # not there, or not to be run by that user
        return False


@pytest.fixture(scope="module")
def notebook_python(tmp_path_factory):
    """A Python with papermill, ipykernel and boto3 (at the Airflow lock's versions) that the notebook user can run.
    The Airflow virtualenv's own may not do: here it links to pyenv's Python under /root (0700), which no other user
    can start; in the Airflow image the virtualenv is /opt/airflow-venv, readable by all."""
    if os.geteuid() != 0:
        missing_tool("root (these tests run a notebook as another OS user)", "run the tests as root, as CI does")
    bases = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    usable = [base for base in dict.fromkeys(bases) if runs_python_3_11(NOTEBOOK_USER, base)]
    if not usable:
        missing_tool(f"a Python 3.11 that the user {NOTEBOOK_USER} can run", "install python3 (e.g. apt-get)")
    folder = Path(tempfile.mkdtemp(prefix="notebook-python-"))  # in /tmp, not pytest's root-only folder
    folder.chmod(0o755)
    uv = Path(sys.executable).parent / "uv"
    venv = folder / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", usable[0], venv], check=True, timeout=120)
    constraints = REPO / "requirements" / "airflow.txt"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", "-c", constraints, *NOTEBOOK_PACKAGES],
        check=True,
        timeout=600,
    )
    yield str(venv / "bin" / "python")
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def token_file():
    """The scheduler's token as a Secret volume mounts it (root, 0400), in a folder everyone may pass through."""
    folder = Path(tempfile.mkdtemp(prefix="scheduler-secret-"))
    folder.chmod(0o755)
    path = folder / "token"
    path.write_text("a-scheduler-token")
    path.chmod(0o400)
    yield path
    path.unlink()
    folder.rmdir()


def run_as_the_task(broker, job, python: str, run_as_user: str | None) -> subprocess.CompletedProcess:
    """One run as Airflow's task does it (scheduler.run_notebook.run), in a process of its own whose environment
    holds the scheduler's token, as a job pod's task process does."""
    program = (
        "import sys; from scheduler.run_notebook import run\n"
        "r = run(sys.argv[1], 'manual__separation', None, sys.argv[2], python=sys.argv[3])\n"
        "print('PID', __import__('os').getpid(), r.state, r.reason)"
    )
    env = {"PATH": os.environ["PATH"], SCHEDULER_TOKEN_ENV: broker.service_token, SCHEDULER_BROKER_URL_ENV: broker.url}
    if run_as_user:
        env[RUN_AS_USER_ENV] = run_as_user
    return subprocess.run(
        [sys.executable, "-c", program, job.id, broker.ask_for_run(job.id), python],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DAGS_TEST_TIMEOUT,
        check=False,
    )


def separated_run(broker, aws, job, python, token_file, run_as_user):
    _, s3 = aws
    put_notebook(s3, job.notebook_key, notebook_bytes("v1", [SEPARATION_CELL]))
    job.parameters = {"token_file": str(token_file)}
    result = run_as_the_task(broker, job, python, run_as_user)
    task_pid = int(result.stdout.split("PID ", 1)[1].split()[0]) if "PID " in result.stdout else None
    run = only_run(broker, job)
    assert (run.state, run.reason) == ("success", None), result.stdout[-3000:] + result.stderr[-3000:]
    prefix = f"home/sam/runs/{job.id}/{run.run_id}/"
    stored = outputs(s3, job)
    assert sorted(stored) == [prefix + "output.ipynb", prefix + "run.log"]
    executed = json.loads(stored[prefix + "output.ipynb"])
    assert [c["execution_count"] for c in executed["cells"] if c["cell_type"] == "code"] == list(range(1, 8))
    assert stored[prefix + "run.log"].decode().startswith(f"Notebook s3://{BUCKET}/{job.notebook_key}, version ")
    seen = printed(executed)
    [task] = [a for a in seen["ancestors"] if a["pid"] == task_pid]
    return seen, task


def test_the_notebook_runs_as_another_user_that_cannot_read_the_tasks_secrets(
    broker, aws, job, notebook_python, token_file
):
    seen, task = separated_run(broker, aws, job, notebook_python, token_file, NOTEBOOK_USER)

    user = pwd.getpwnam(NOTEBOOK_USER)
    assert (seen["uid"], seen["euid"], seen["gid"], seen["groups"]) == (user.pw_uid, user.pw_uid, user.pw_gid, [])
    assert seen["capabilities"] == "0000000000000000"
    # As that user, the SDK still got the job's credentials through the helper and the private config.
    assert seen["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/sam-job-{job.id}"
    # The task (root, the scheduler's token in its environment) is closed to the notebook, and so is pid 1.
    assert task == {"pid": task["pid"], "uid": 0, "environ": "PermissionError"}
    assert seen["pid_1_environ"] == "PermissionError"
    assert seen["token_file"] == "PermissionError"
    # Its folder is its own and private; the task's folder around it only lets it pass.
    assert (seen["folder_owner"], seen["folder_mode"]) == (user.pw_uid, "0o700")
    assert seen["task_folder_listing"] == "PermissionError"
    # The executed notebook and the log arrived complete (above); the task removed the run's folders.
    assert not Path(seen["home"]).parent.parent.exists()


def test_without_a_notebook_user_the_notebook_could_read_the_tasks_token(broker, aws, job, notebook_python, token_file):
    """What the separation prevents (and the local stack still allows: README, "What the demo does not isolate"), and
    the proof that the checks above can fail."""
    seen, task = separated_run(broker, aws, job, notebook_python, token_file, None)

    assert seen["uid"] == os.geteuid()
    assert task["environ"] == "holds the scheduler's token"
    assert seen["token_file"] == "read"


def test_a_task_that_cannot_switch_users_is_refused_with_the_reason(notebook_python):
    """The check a task makes before a run, made by a process without the capabilities (running as nobody)."""
    program = (
        "import sys\nfrom scheduler import run_as\n"
        "try:\n    run_as.check_switch('daemon', sys.executable, run_as.Path(sys.argv[1]))\n"
        "except run_as.CannotRunAs as e:\n    print(e.reason)"
    )
    helper = REPO / "hub" / "aws_credential_process.py"
    result = subprocess.run(
        [notebook_python, "-c", program, str(helper)],
        user=NOTEBOOK_USER,
        extra_groups=[],
        env={},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    uid = pwd.getpwnam(NOTEBOOK_USER).pw_uid
    assert result.stdout.strip() == (
        f'the notebook cannot run as "daemon" (NOTEBOOK_RUN_AS_USER): the task (uid {uid}) lacks the capabilities '
        "CHOWN, DAC_OVERRIDE, SETGID, SETUID needed to switch users; tell your administrator (the job pod's "
        "container runs as root with CHOWN, DAC_OVERRIDE, SETGID, SETUID)"
    )
