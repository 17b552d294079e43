"""One run of a scheduled notebook job, as the Airflow task does it.

1. Ask the broker to start the run (``POST v1/scheduler/runs``): it answers with the run's own hub token (job scope
   only, short-lived), the notebook, its parameters and where the output goes; or refuses with a reason.
2. Write a private AWS config (0600, in a private folder) whose ``credential_process`` is the same stdlib helper
   user servers run, given the run token: every AWS SDK in the notebook gets the owner's job credentials from the
   broker and refreshes them during a long run.
3. Download the exact notebook version (pinned for "run again exactly", else the current one, whose VersionId is
   recorded), with credentials from that helper.
4. Run papermill in a fresh process whose environment holds only what it needs (no Airflow variable, no scheduler
   token, no credentials of Airflow's), with the parameters injected; with ``NOTEBOOK_RUN_AS_USER`` set, as that OS
   user, in a private folder of its own (:mod:`scheduler.run_as`), so the notebook cannot read this process's memory
   or environment either.
5. Upload the executed notebook and ``run.log`` to the run's output prefix, each in one request (complete files only),
   also when the notebook raised.
6. Tell the broker how it ended (``.../finish``), with the reason in words; the broker deletes the run token.

The run token is never logged and never returned to Airflow (no XCom, no Variable): it lives in this process's memory
and in the papermill process's environment, and ends with the run. The pure parts (:func:`aws_config_text`,
:func:`notebook_environment`, :func:`papermill_command`, :func:`notebook_failure`) are tested against literal values.
"""

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import run_as
from .broker_client import BrokerRefused, BrokerUnreachable, SchedulerAccess

log = logging.getLogger(__name__)

HELPER_PATH = Path(__file__).resolve().parents[1] / "hub" / "aws_credential_process.py"
HELPER_PROGRAM_PREFIX = "jupyterhub-aws-credentials: "  # how the helper starts its one-line reasons
# papermill runs every notebook with this kernel (the Airflow virtualenv's ipykernel), whatever the notebook names.
KERNEL_NAME = "python3"
OUTPUT_NOTEBOOK = "output.ipynb"
RUN_LOG = "run.log"
HELPER_TIMEOUT_SECONDS = 60
REASON_MAX_CHARS = 500
STOPPED = "the run was stopped before it ended (Airflow's task timeout, or an administrator stopped it)"


class RunFailed(Exception):
    """The run cannot go on; ``reason`` says why, in words the job's owner can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RunGrant:
    """The broker's answer to a run start."""

    run_id: str
    token: str = field(repr=False)
    owner: str
    session_name: str
    bucket: str
    notebook_key: str
    notebook_version: str | None
    parameters: dict
    output_prefix: str
    broker_url: str
    region: str
    s3_endpoint_url: str | None

    @classmethod
    def from_answer(cls, answer: dict) -> "RunGrant":
        try:
            grant = cls(**{name: answer[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as e:
            raise RunFailed(
                f"the credential broker's answer to the run start lacks {e}; tell your administrator"
            ) from None
        required = (grant.run_id, grant.token, grant.bucket, grant.notebook_key, grant.output_prefix, grant.broker_url)
        if not all(isinstance(value, str) and value for value in required) or not isinstance(grant.parameters, dict):
            raise RunFailed("the credential broker's answer to the run start is incomplete; tell your administrator")
        return grant

    @property
    def notebook_location(self) -> str:
        where = f"s3://{self.bucket}/{self.notebook_key}"
        return f"{where} (version {self.notebook_version})" if self.notebook_version else where


@dataclass(frozen=True)
class RunResult:
    run_id: str | None
    state: str  # "success" or "failed"
    reason: str | None
    notebook_version: str | None


# ---- pure builders ------------------------------------------------------------------------------------------------


def helper_command(python: str, helper: Path = HELPER_PATH) -> str:
    """The ``credential_process`` line: a path with a space goes in double quotes, the one quoting every SDK reads
    (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html)."""
    return " ".join(f'"{part}"' if " " in part else part for part in (python, "-I", str(helper)))


def aws_config_text(command: str, region: str) -> str:
    return f"[default]\ncredential_process = {command}\nregion = {region}\n"


def notebook_environment(grant: RunGrant, *, config_file: str, home: str, path: str, lang: str) -> dict:
    """Everything the papermill process (and the kernel, and the credential helper under it) gets: nothing else."""
    env = {
        "PATH": path,
        "HOME": home,
        "LANG": lang,
        "AWS_CONFIG_FILE": config_file,
        # Keys in some credentials file must never win over the job's brokered credentials.
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_SDK_LOAD_CONFIG": "1",
        "AWS_REGION": grant.region,
        "AWS_DEFAULT_REGION": grant.region,
        # Never fall back to the machine's instance role.
        "AWS_EC2_METADATA_DISABLED": "true",
        "JUPYTERHUB_AWS_BROKER_URL": grant.broker_url,
        "JUPYTERHUB_API_TOKEN": grant.token,
    }
    if grant.s3_endpoint_url:
        env["AWS_ENDPOINT_URL"] = grant.s3_endpoint_url  # as user servers get it (the local stack's moto)
    return env


def papermill_command(python: str, notebook: Path, output: Path, parameters_file: Path, cwd: Path) -> list[str]:
    return [
        python,
        "-m",
        "papermill",
        str(notebook),
        str(output),
        "--parameters_file",
        str(parameters_file),
        "--kernel",
        KERNEL_NAME,
        "--cwd",
        str(cwd),
        "--log-output",
        "--no-progress-bar",
    ]


def notebook_failure(notebook: dict) -> str | None:
    """The first error papermill recorded in an executed notebook, in words; None when no cell raised."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                count = cell.get("execution_count")
                where = f"cell In [{count}]" if count is not None else "a cell"
                source = "".join(cell.get("source", "")).strip().splitlines()
                first_line = f' (starting "{shorten(source[0], 80)}")' if source else ""
                return shorten(f"{where}{first_line} raised {output.get('ename')}: {output.get('evalue')}")
    return None


def log_failure(log_text: str) -> str:
    """The reason for a papermill process that failed without an executed notebook: its last words."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    return shorten(f"papermill failed: {lines[-1]}" if lines else "papermill failed without a message")


def shorten(text: str, limit: int = REASON_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso_utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- I/O ----------------------------------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(text)


def helper_credentials(command: str, env: dict) -> dict:
    """The job's credentials, obtained exactly as the notebook's SDK obtains them (the helper, the run token)."""
    result = subprocess.run(
        shlex.split(command), env=env, capture_output=True, text=True, timeout=HELPER_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        reason = result.stderr.strip().removeprefix(HELPER_PROGRAM_PREFIX) or f"the helper exited {result.returncode}"
        raise RunFailed(shorten(f"AWS credentials were refused: {reason}"))
    return json.loads(result.stdout)


def s3_client(grant: RunGrant, credentials: dict):
    import boto3
    from botocore.config import Config

    local = {"s3": {"addressing_style": "path"}, "request_checksum_calculation": "when_required"}
    return boto3.client(
        "s3",
        region_name=grant.region,
        endpoint_url=grant.s3_endpoint_url or None,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(**(local if grant.s3_endpoint_url else {})),
    )


def download_notebook(s3, grant: RunGrant, target: Path) -> str | None:
    """Save the notebook to ``target``; returns the version it got (S3's VersionId, None if unversioned)."""
    from botocore.exceptions import ClientError

    request = {"Bucket": grant.bucket, "Key": grant.notebook_key}
    if grant.notebook_version:
        request["VersionId"] = grant.notebook_version
    try:
        answer = s3.get_object(**request)
        target.write_bytes(answer["Body"].read())
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchVersion", "404", "InvalidArgument"):
            raise RunFailed(f"the notebook {grant.notebook_location} does not exist") from None
        message = e.response.get("Error", {}).get("Message", "")
        raise RunFailed(
            shorten(f"the notebook {grant.notebook_location} could not be read: {code} {message}")
        ) from None
    version = answer.get("VersionId")
    return None if version in (None, "null") else version


def upload_outputs(s3, grant: RunGrant, executed: bytes | None, run_log: Path) -> None:
    """Each file in one PutObject: a reader sees the whole file or none of it. An executed notebook that is not
    complete JSON (papermill killed while writing) is not uploaded."""
    files = [(RUN_LOG, run_log.read_bytes(), "text/plain; charset=utf-8")]
    try:
        json.loads(executed or b"")
        files.insert(0, (OUTPUT_NOTEBOOK, executed, "application/x-ipynb+json"))
    except ValueError:
        pass
    for name, body, content_type in files:
        s3.put_object(Bucket=grant.bucket, Key=grant.output_prefix + name, Body=body, ContentType=content_type)


def notebook_user(base_env, python: str) -> run_as.NotebookUser | None:
    """The OS user papermill and the kernel run as (``NOTEBOOK_RUN_AS_USER``, read here only); None: the task's own."""
    setting = base_env.get(run_as.RUN_AS_USER_ENV, "").strip()
    if not setting:
        return None
    try:
        return run_as.check_switch(setting, python, HELPER_PATH)
    except run_as.CannotRunAs as e:
        raise RunFailed(e.reason) from None


def execute(grant: RunGrant, workdir: Path, python: str, base_env) -> tuple[str, str | None, str | None]:
    """Steps 2 to 5; returns (state, reason, notebook version).

    ``workdir`` is the task's (run.log); the notebook's own folder inside it (0700) holds its home, AWS config, input,
    parameters and output. With a notebook user, that folder is the user's and ``workdir`` only lets it pass (0711)."""
    version = grant.notebook_version
    try:
        user = notebook_user(base_env, python)  # first: a refusal writes nothing and asks for no credentials
    except RunFailed as e:
        return "failed", e.reason, version
    folder = workdir / "notebook"
    home = folder / "home"
    folder.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    config_file = folder / "aws-config"
    command = helper_command(python)
    write_private(config_file, aws_config_text(command, grant.region))
    env = notebook_environment(
        grant,
        config_file=str(config_file),
        home=str(home),
        path=base_env.get("PATH", os.defpath),
        lang=base_env.get("LANG", "C.UTF-8"),
    )
    try:
        s3 = s3_client(grant, helper_credentials(command, env))
        notebook = folder / "input.ipynb"
        version = download_notebook(s3, grant, notebook) or version
        parameters_file = folder / "parameters.json"  # JSON is YAML, which papermill reads
        write_private(parameters_file, json.dumps(grant.parameters))
        if user:
            run_as.hand_over([folder, home, config_file, notebook, parameters_file], user)
            workdir.chmod(0o711)
        run_log = workdir / RUN_LOG
        # The task's file (0600): the notebook's processes only get a descriptor to it.
        with os.fdopen(os.open(run_log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(f"Notebook {grant.notebook_location}, version {version}, run {grant.run_id}\n")
            out.write(f"Parameters: {json.dumps(grant.parameters, sort_keys=True)}\n")
            out.flush()
            output = folder / OUTPUT_NOTEBOOK
            returncode = subprocess.run(
                papermill_command(python, notebook, output, parameters_file, home),
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                **(user.process_identity() if user else {}),
            ).returncode
        executed = run_as.read_users_file(output, user.uid if user else os.geteuid())
        reason = None
        if returncode != 0:
            try:
                reason = notebook_failure(json.loads(executed or b""))
            except ValueError:
                pass
            reason = reason or log_failure(run_log.read_text(errors="replace"))
        # Fresh credentials for the upload: a long run may have outlived the first ones.
        upload_outputs(s3_client(grant, helper_credentials(command, env)), grant, executed, run_log)
    except RunFailed as e:
        return "failed", e.reason, version
    except Exception as e:  # the owner gets a reason in words, the admin the details in the task log
        log.exception("Run %s: unexpected failure", grant.run_id)
        return "failed", shorten(f"the run failed unexpectedly ({type(e).__name__}); tell your administrator"), version
    return ("success" if returncode == 0 else "failed"), reason, version


def run(
    job_id: str,
    airflow_run_id: str,
    logical_date: datetime | None,
    request_id: str | None,
    access: SchedulerAccess | None = None,
    python: str = sys.executable,
    base_env=None,
) -> RunResult:
    """One run of job ``job_id``: start, execute, finish. Raises :class:`RunFailed` only when the broker refused
    (or could not be asked) to start it; every later failure is reported to the broker and returned."""
    access = access or SchedulerAccess.from_environment()
    base_env = os.environ if base_env is None else base_env
    try:
        answer = access.start_run(job_id, airflow_run_id, iso_utc(logical_date), request_id)
    except BrokerRefused as e:
        raise RunFailed(f"the credential broker refused to start the run: {e.message}") from None
    except BrokerUnreachable as e:
        raise RunFailed(f"the run could not be started: {e}") from None
    try:
        grant = RunGrant.from_answer(answer)
    except RunFailed as e:
        if isinstance(answer.get("run_id"), str):  # started, so it must end: the broker deletes its token
            report_finish(access, answer["run_id"], "failed", e.reason, None)
        raise
    log.info("Run %s of job %s: notebook %s as %s", grant.run_id, job_id, grant.notebook_location, grant.session_name)
    workdir = Path(tempfile.mkdtemp(prefix="notebook-run-"))  # 0700
    try:
        state, reason, version = execute(grant, workdir, python, base_env)
    except BaseException:  # Airflow's task timeout, or the task stopped from the UI: the run still ends at the broker
        report_finish(access, grant.run_id, "failed", STOPPED, grant.notebook_version)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("Run %s: %s%s", grant.run_id, state, f" ({reason})" if reason else "")
    report_finish(access, grant.run_id, state, reason, version)
    return RunResult(grant.run_id, state, reason, version)


def report_finish(access: SchedulerAccess, run_id: str, state: str, reason: str | None, version: str | None) -> None:
    try:
        access.finish_run(run_id, state, reason, version)
    except (BrokerRefused, BrokerUnreachable) as e:
        # The run token still expires on its own (NotebookJobs.max_run_seconds); the page shows the run unfinished.
        log.error("Run %s: the broker was not told how it ended: %s", run_id, e)
