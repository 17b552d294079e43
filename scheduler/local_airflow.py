"""Airflow on this machine, for the local stack and the tests: SQLite, LocalExecutor, the DAGs of ``scheduler/dags``.

The pure builders (:func:`airflow_environment`, :func:`migrate_command`, :func:`server_commands`) say how; the local
stack's launcher starts the servers its own way (process groups, logs). :class:`LocalAirflow` starts and stops them
on its own (the tests, and ``python -m scheduler.local_airflow``).

Airflow gets no AWS variable and no hub variable from the environment it is started in: it holds the scheduler's
service token and the broker's URL, nothing else of ours. Everything listens on 127.0.0.1 only (the task log server is
not started: the UI reads task logs from the shared log folder). The UI's one user is ``admin`` with a password made
up at every start (Airflow's SimpleAuthManager).
"""

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hub.broker.contract import SCHEDULER_BROKER_URL_ENV, SCHEDULER_TOKEN_ENV
from hub.jobs.airflow_api import AirflowApi

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "scheduler" / "dags"
AIRFLOW_VENV = REPO / ".venv-airflow"
ADMIN_USER = "admin"
# The hub's own account, for "Run now" (hub/jobs/airflow_api.py signs in as AirflowApi.username).
HUB_USER = AirflowApi.username.default_value
# Prefixes of variables Airflow must not inherit: its own settings come from here only, and it holds no AWS
# credentials and none of the hub's tokens.
NOT_INHERITED = ("AIRFLOW__", "AWS_", "JUPYTERHUB_", "CREDENTIAL_BROKER", "NOTEBOOK_SCHEDULER_")
# Seconds between the dag-processor's looks at the DAG folder and its re-parses of the job list: a job created on the
# hub's page appears in Airflow within about this long.
DAG_REFRESH_SECONDS = 5
API_SERVER = "airflow-api-server"


@dataclass(frozen=True)
class AirflowSecrets:
    admin_password: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    api_secret_key: str = field(repr=False)
    fernet_key: str = field(repr=False)
    hub_password: str = field(repr=False)  # the hub's account (HUB_USER), which asks Airflow to start runs now

    def values(self) -> tuple[str, ...]:
        return (self.admin_password, self.jwt_secret, self.api_secret_key, self.fernet_key, self.hub_password)

    @classmethod
    def new(cls) -> "AirflowSecrets":
        return cls(
            admin_password=secrets.token_urlsafe(12),
            jwt_secret=secrets.token_urlsafe(32),
            api_secret_key=secrets.token_urlsafe(32),
            fernet_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            hub_password=secrets.token_urlsafe(24),
        )


@dataclass(frozen=True)
class AirflowSettings:
    home: Path
    api_port: int
    broker_url: str
    scheduler_token: str = field(repr=False)
    venv: Path = AIRFLOW_VENV
    parallelism: int = 4  # notebook runs at once (each a papermill process and a kernel)
    dags_folder: Path = DAGS_FOLDER

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def airflow(self) -> str:
        return str(self.venv / "bin" / "airflow")

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"


def airflow_environment(base_env, settings: AirflowSettings, the: AirflowSecrets) -> dict:
    env = {name: value for name, value in base_env.items() if not name.startswith(NOT_INHERITED)}
    env.update(
        {
            "AIRFLOW_HOME": str(settings.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": the.fernet_key,
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            # The simple auth manager's "user" role may trigger DAG runs, which is all the hub's account does.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{HUB_USER}:user",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{settings.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(settings.api_port),
            "AIRFLOW__API__BASE_URL": settings.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": the.api_secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": the.jwt_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(DAG_REFRESH_SECONDS),
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(DAG_REFRESH_SECONDS),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            SCHEDULER_BROKER_URL_ENV: settings.broker_url,
            SCHEDULER_TOKEN_ENV: settings.scheduler_token,
        }
    )
    return env


def migrate_command(settings: AirflowSettings) -> list[str]:
    return [settings.airflow, "db", "migrate"]


def server_commands(settings: AirflowSettings) -> dict[str, list[str]]:
    """The three long-running servers, by name: start them in this order, the scheduler only once the API server
    answers (:func:`api_server_up`); stop them in reverse."""
    return {
        API_SERVER: [settings.airflow, "api-server"],
        "airflow-scheduler": [settings.airflow, "scheduler", "--skip-serve-logs"],
        "airflow-dag-processor": [settings.airflow, "dag-processor"],
    }


def prepare_home(settings: AirflowSettings, the: AirflowSecrets) -> None:
    """AIRFLOW_HOME with the UI's password file (0600): the admin password is ours, not one Airflow prints."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwords = settings.passwords_file
    passwords.unlink(missing_ok=True)
    descriptor = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as f:
        json.dump({ADMIN_USER: the.admin_password, HUB_USER: the.hub_password}, f)


def health(settings: AirflowSettings) -> dict | None:
    """Airflow's health report from its API server, or None while the API server does not answer."""
    try:
        with urllib.request.urlopen(f"{settings.api_url}/api/v2/monitor/health", timeout=5) as answer:  # noqa: S310
            report = json.loads(answer.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def api_server_up(settings: AirflowSettings) -> bool:
    """Whether the API server answers. Start the scheduler only then: a task it starts earlier cannot reach the
    execution API (on the API server) and fails without ever running."""
    return health(settings) is not None


def scheduler_healthy(settings: AirflowSettings) -> bool:
    """Whether the API server reports a live scheduler (what "ready" means for the stack)."""
    return (health(settings) or {}).get("scheduler", {}).get("status") == "healthy"


class AirflowError(Exception):
    pass


class LocalAirflow:
    """Airflow's api-server, scheduler and dag-processor as child process groups; :meth:`stop` ends them all."""

    def __init__(self, settings: AirflowSettings, base_env=None, log_dir: Path | None = None):
        self.settings = settings
        self.secrets = AirflowSecrets.new()
        self.env = airflow_environment(os.environ if base_env is None else base_env, settings, self.secrets)
        self.log_dir = log_dir or settings.home
        self.processes: dict[str, subprocess.Popen] = {}

    def migrate(self, timeout: float = 300) -> None:
        prepare_home(self.settings, self.secrets)
        with open(self.log_dir / "airflow-db-migrate.log", "wb") as log:
            result = subprocess.run(
                migrate_command(self.settings),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise AirflowError(f"`airflow db migrate` failed; see {self.log_dir / 'airflow-db-migrate.log'}")

    def start(self, ready_timeout: float = 180) -> None:
        """The API server first, then the scheduler and the dag-processor once it answers."""
        deadline = time.monotonic() + ready_timeout
        for name, command in server_commands(self.settings).items():
            with open(self.log_dir / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    command,
                    env=self.env,
                    cwd=self.settings.home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends its workers too
                )
            if name == API_SERVER:
                self.wait_until(api_server_up, deadline, "answer")
        self.wait_until(scheduler_healthy, deadline, "report a healthy scheduler")

    def wait_until(self, ready, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise AirflowError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")
            if ready(self.settings):
                return
            time.sleep(1)
        raise AirflowError(f"Airflow's API server at {self.settings.api_url} did not {what} in time")

    def stop(self) -> None:
        for proc in reversed(self.processes.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything of its group still left (task workers)
            except ProcessLookupError:
                pass

    def __enter__(self) -> "LocalAirflow":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Run Airflow with the notebook job DAGs on this machine (Ctrl-C stops)"
    )
    parser.add_argument("--home", type=Path, default=REPO / ".local-airflow", help="AIRFLOW_HOME")
    parser.add_argument("--port", type=int, default=8280, help="the API server and UI's port on 127.0.0.1")
    parser.add_argument("--broker-url", required=True, help="the credential broker's base URL")
    args = parser.parse_args(argv)
    token = os.environ.get(SCHEDULER_TOKEN_ENV, "")
    if not token:
        print(f"Set {SCHEDULER_TOKEN_ENV} to the notebook-scheduler service's hub token.", file=sys.stderr)
        return 2
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # for sigwait below
    airflow = LocalAirflow(AirflowSettings(args.home, args.port, args.broker_url, token))
    try:
        airflow.migrate()
        airflow.start()
        print(f"Airflow UI: {airflow.settings.api_url} (user {ADMIN_USER}, password {airflow.secrets.admin_password})")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except AirflowError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        airflow.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
