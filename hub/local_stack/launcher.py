"""``python -m hub.local_stack`` (``make demo``): the whole system on this machine, stopped with Ctrl-C.

In order: the Entra ID emulator (the demo directory), the moto server as AWS (IAM, STS, S3), the repository's
Terraform example applied to it from the demo access policy (the roles, IAM groups and notebook bucket, exactly as a
real deployment creates them: there is no second way), then JupyterHub with the real Entra ID authenticator, the
credential broker and the local spawner. Each server runs in a process group of its own; Ctrl-C (or SIGTERM) stops
them in reverse order, then anything they left behind, and nothing keeps running. Every run starts from a fresh state
folder (``.local-stack/``, or ``LOCAL_STACK_DIR``), so running it twice in a row works.

Secrets (the demo password, the client secret, the auth_state key, the proxy token, throwaway moto keys) are made up
at every start and passed to the servers in their environment; only the password is printed, for the person running
the demo. Settings: see :mod:`hub.local_stack.plan`.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from authenticator.access_policy import AccessPolicyError, load_access_policy
from entra_emulator.directory import DirectoryError, load_directory
from hub.broker.contract import SERVICE_PREFIX
from scheduler.local_airflow import (
    AIRFLOW_VENV,
    AirflowSettings,
    airflow_environment,
    api_server_up,
    migrate_command,
    prepare_home,
    scheduler_healthy,
    server_commands,
)

from . import plan
from .plan import LocalStackError, Settings
from .single_machine import proxy_left_behind

MARKER = ".local-stack"  # marks a state folder this launcher made (and may empty)
TERRAFORM_HOW = (
    "Install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install: a single binary; on macOS "
    "`brew install hashicorp/tap/terraform`, on Debian/Ubuntu HashiCorp's apt repository), put it on PATH, and run "
    "`make demo` again."
)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path
    family: set = field(default_factory=set)  # pids seen in its process tree (servers, proxy, broker)
    hub_state: Path | None = None  # the hub's: where it records the proxy it started (single_machine.py)


class Stack:
    def __init__(self, settings: Settings, out=sys.stdout):
        self.settings, self.out = settings, out
        self.children: list[Child] = []
        self.interrupted = False  # Ctrl-C or SIGTERM: stop at the next check
        self.force = False  # a second one: stop without waiting

    def signalled(self, signum, frame) -> None:
        if self.interrupted:
            self.force = True
        self.interrupted = True

    def check(self) -> None:
        if self.interrupted:
            raise Interrupted()

    def say(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    # ---- processes -------------------------------------------------------------------------------------------

    def start(self, name: str, command: list[str], env: dict, log_name: str, cwd: Path | None = None) -> Child:
        log_path = self.settings.state_dir / log_name
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                command,
                env=env,
                cwd=cwd or self.settings.state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches the launcher only, which stops it
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def remember_families(self) -> None:
        for child in self.children:
            try:
                child.family |= {p.pid for p in psutil.Process(child.proc.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass
            if child.hub_state is not None and (proxy := proxy_left_behind(child.hub_state)) is not None:
                child.family.add(proxy.pid)  # a hub that died before stopping its proxy

    def stop_all(self) -> list[int]:
        """Stop every child (newest first) and everything it started; returns the pids still alive (none)."""
        self.remember_families()
        for child in reversed(self.children):
            self.stop(child)
        survivors = []
        for child in self.children:
            for pid in {child.proc.pid, *child.family}:
                if psutil.pid_exists(pid) and not _is_zombie(pid):
                    survivors.append(pid)
        return survivors

    def stop(self, child: Child) -> None:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
            self.wait(child.proc, 30)  # the hub stops people's servers, the broker and the proxy first
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)  # anything left in its process group
        except (ProcessLookupError, PermissionError):
            pass
        left = [p for p in _processes(child.family) if p.is_running()]
        for p in left:
            _signal(p, signal.SIGTERM)
        _, alive = psutil.wait_procs(left, timeout=0 if self.force else 5)
        for p in alive:
            _signal(p, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        child.proc.poll()

    def wait(self, proc: subprocess.Popen, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while proc.poll() is None and time.monotonic() < deadline and not self.force:
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def died(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def failure(self, child: Child, what: str) -> LocalStackError:
        tail = _tail(child.log_path)
        return LocalStackError(f"{what}. The end of its log ({child.log_path}):\n{tail}")

    def wait_until(self, child: Child, ready, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check()
            if child.proc.poll() is not None:
                raise self.failure(child, f"{child.name} stopped (exit {child.proc.returncode}) before {what}")
            value = ready()
            if value:
                return value
            time.sleep(0.2)
        raise self.failure(child, f"{child.name} did not get {what} within {seconds:.0f} s")

    # ---- the stack -------------------------------------------------------------------------------------------

    def run(self) -> int:
        s, python = self.settings, sys.executable
        policy = load_access_policy(plan.DEMO_POLICY)
        people = plan.demo_people(load_directory(plan.DEMO_DIRECTORY), policy)
        the = plan.new_secrets(s.password)
        env = dict(os.environ)
        self.say(f"Starting the local stack (state and logs in {s.state_dir})")

        started = time.monotonic()
        self.say(f"  Entra ID emulator  {s.entra_url:<26}", end="")
        entra = self.start(
            "The Entra ID emulator",
            plan.emulator_command(python, s),
            plan.emulator_environment(env, the),
            "entra-emulator.log",
            cwd=plan.REPO,
        )
        ready_file = s.state_dir / "entra" / "ready"
        self.wait_until(entra, ready_file.exists, 30, "ready")
        emulator = json.loads(ready_file.read_text())
        self.say(f"ready ({time.monotonic() - started:.1f} s)")

        started = time.monotonic()
        self.say(f"  moto (AWS)         {s.moto_url:<26}", end="")
        moto = self.start("The moto server", plan.moto_command(python, s), plan.moto_environment(env), "moto.log")
        self.wait_until(moto, lambda: _answers(f"{s.moto_url}/moto-api/"), 30, "ready")
        self.say(f"ready ({time.monotonic() - started:.1f} s)")

        started = time.monotonic()
        self.say("  Terraform          terraform/examples/complete -> moto (about a minute) ... ", end="")
        count = self.apply_terraform(policy, the, env)
        self.say(f"{count} resources: roles, IAM groups, notebook bucket ({_since(started)})")

        started = time.monotonic()
        self.say(f"  JupyterHub         {s.hub_url:<26}", end="")
        (s.state_dir / "hub").mkdir()
        hub = self.start(
            "JupyterHub",
            plan.hub_command(python),
            plan.hub_environment(env, s, the, emulator, policy, python),
            "jupyterhub.log",
            cwd=s.state_dir / "hub",
        )
        hub.hub_state = s.state_dir / "hub"
        self.wait_until(hub, lambda: _answers(f"{s.hub_url}/hub/api/", status=200), 90, "ready")
        broker = f"{s.hub_url}{SERVICE_PREFIX}health"
        self.wait_until(hub, lambda: _answers(broker, status=200), 60, "its credential broker ready")
        self.say(f"ready ({time.monotonic() - started:.1f} s)")

        started = time.monotonic()
        self.say(f"  Airflow            {s.airflow_url:<26}", end="")
        self.start_airflow(plan.airflow_settings(s, the), the, env)
        self.say(f"ready ({time.monotonic() - started:.1f} s)")

        self.say(plan.banner(s, the.password, people, policy, the.airflow.admin_password))
        _write_json(
            s.state_dir / "ready.json",
            {
                "hub_url": s.hub_url,
                "entra_url": s.entra_url,
                "moto_url": s.moto_url,
                "airflow_url": s.airflow_url,
                "launcher_pid": os.getpid(),
                "pids": {c.name: c.proc.pid for c in self.children},
            },
        )
        while True:
            time.sleep(0.5)
            self.check()
            self.remember_families()
            child = self.died()
            if child is not None:
                raise self.failure(child, f"{child.name} stopped unexpectedly (exit {child.proc.returncode})")

    def start_airflow(self, settings: AirflowSettings, the: plan.Secrets, env: dict) -> None:
        """Airflow (scheduler/local_airflow.py): its database, then its API server, scheduler and DAG processor."""
        prepare_home(settings, the.airflow)
        airflow_env = airflow_environment(env, settings, the.airflow)
        migrate = self.start("airflow db migrate", migrate_command(settings), airflow_env, "airflow.log")
        while migrate.proc.poll() is None:
            time.sleep(0.2)
            self.check()
        self.children.remove(migrate)
        if migrate.proc.returncode != 0:
            raise self.failure(migrate, "`airflow db migrate` failed")
        # The API server first: a task the scheduler starts before it answers cannot reach the execution API.
        (api_name, api_command), *others = server_commands(settings).items()
        api = self.start(api_name, api_command, airflow_env, f"{api_name}.log", cwd=settings.home)
        self.wait_until(api, lambda: api_server_up(settings), 180, "its API answering")
        for name, command in others:
            self.start(name, command, airflow_env, f"{name}.log", cwd=settings.home)
        self.wait_until(api, lambda: scheduler_healthy(settings), 180, "a healthy scheduler")

    def apply_terraform(self, policy, the: plan.Secrets, env: dict) -> int:
        s = self.settings
        tree = s.state_dir / "terraform"
        shutil.copytree(
            plan.REPO / "terraform",
            tree,
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.*"),
        )
        example = tree / "examples" / "complete"
        variables = example / "local-stack.tfvars.json"
        _write_json(variables, plan.terraform_variables(s, policy))
        tf_env = plan.terraform_environment(env, the)
        init = ["init", "-input=false", "-no-color"] + ([f"-plugin-dir={s.tf_plugin_dir}"] if s.tf_plugin_dir else [])
        how = "" if s.tf_plugin_dir else " (it downloads the AWS provider: this needs the internet, or TF_PLUGIN_DIR)"
        self.terraform(init, example, tf_env, f"terraform init failed{how}")
        apply = ["apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={variables}"]
        self.terraform(apply, example, tf_env, "terraform apply to the moto server failed")
        state = json.loads((example / "terraform.tfstate").read_text())
        return sum(1 for r in state.get("resources", []) if r.get("mode") == "managed" for _ in r.get("instances", []))

    def terraform(self, args: list[str], where: Path, env: dict, what: str) -> None:
        child = self.start("Terraform", [self.settings.terraform, *args], env, "terraform.log", cwd=where)
        while child.proc.poll() is None:
            time.sleep(0.2)
            self.check()
        self.children.remove(child)
        if child.proc.returncode != 0:
            raise self.failure(child, what)


# ---- helpers -----------------------------------------------------------------------------------------------------


def _answers(url: str, status: int | None = None) -> bool:
    try:
        response = requests.get(url, timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return status is None or response.status_code == status


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.0f} s"


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)


def _processes(pids):
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def _signal(process: psutil.Process, signum: int) -> None:
    try:
        process.send_signal(signum)
    except psutil.NoSuchProcess:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def preflight(settings: Settings) -> None:
    """Everything that can be checked before anything starts."""
    if shutil.which(settings.terraform) is None:
        raise LocalStackError(
            f"Terraform is not installed (no `{settings.terraform}` on PATH). The local stack creates the AWS roles, "
            "IAM groups and notebook bucket with the repository's Terraform example, as a real deployment does. "
            + TERRAFORM_HOW
        )
    if shutil.which("node") is None:
        raise LocalStackError("Node.js is not installed: JupyterHub's proxy runs on it. Install Node.js 20.")
    if not (plan.REPO / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        raise LocalStackError("node_modules/.bin/configurable-http-proxy is missing: run `make venv` (needs npm).")
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        raise LocalStackError(f"{AIRFLOW_VENV}/bin/airflow is missing: run `make airflow-venv` (or `make demo`).")
    if settings.tf_plugin_dir and not Path(settings.tf_plugin_dir).is_dir():
        raise LocalStackError(f"TF_PLUGIN_DIR={settings.tf_plugin_dir} is not a folder: unset it or fix the path.")
    for name, port in settings.ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                variable = plan.PORTS[name][0]
                raise LocalStackError(
                    f"Port {port} on 127.0.0.1 is in use (another local stack, JupyterHub or moto?). Stop what uses "
                    f"it, or choose another port: {variable}=<port> make demo"
                ) from None


def check_state_dir(path: Path) -> None:
    """Refuse a folder the local stack did not make, or one a running local stack uses. Checked before the ports:
    a running stack also holds them, and naming that run says more than naming a port."""
    if not path.exists():
        return
    if not (path / MARKER).exists() and any(path.iterdir()):
        raise LocalStackError(
            f"{path} exists and was not made by the local stack; set LOCAL_STACK_DIR to another folder."
        )
    pid_file = path / "launcher.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        if pid != os.getpid() and psutil.pid_exists(pid) and not _is_zombie(pid):
            raise LocalStackError(
                f"Another local stack (pid {pid}) is running from {path}: stop it with Ctrl-C in its terminal "
                f"(or `kill {pid}`), or set LOCAL_STACK_DIR to another folder."
            )


def fresh_state_dir(path: Path) -> None:
    """An empty state folder (after :func:`check_state_dir`): what an earlier run left is removed."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("State of `make demo` (hub/local_stack): emptied at every start.\n")
    (path / "launcher.pid").write_text(f"{os.getpid()}\n")


def main() -> int:
    try:
        settings = plan.settings_from_env()
        check_state_dir(settings.state_dir)
        preflight(settings)
        fresh_state_dir(settings.state_dir)
    except (LocalStackError, OSError) as e:
        print(f"The local stack cannot start: {e}", file=sys.stderr)
        return 2
    stack = Stack(settings)
    # The handler only takes note: the stack checks between steps and in every wait, and then stops what it started.
    signal.signal(signal.SIGINT, stack.signalled)
    signal.signal(signal.SIGTERM, stack.signalled)
    code = 0
    try:
        stack.run()
    except Interrupted:
        stack.say("")
    except (LocalStackError, AccessPolicyError, DirectoryError) as e:
        print(f"\nThe local stack stopped: {e}", file=sys.stderr)
        code = 1
    except OSError as e:  # a file or a program the stack needs (the message names it)
        print(f"\nThe local stack stopped: {e}. Logs: {settings.state_dir}", file=sys.stderr)
        code = 1
    finally:
        stack.say(
            "Stopping: Airflow, JupyterHub (with people's servers, the proxy and the broker), moto, the emulator ..."
        )
        survivors = stack.stop_all()
        (settings.state_dir / "ready.json").unlink(missing_ok=True)
        (settings.state_dir / "launcher.pid").unlink(missing_ok=True)
        if survivors:
            print(f"Some processes did not stop: {sorted(survivors)}", file=sys.stderr)
            code = code or 1
        else:
            stack.say("Stopped; nothing is left running.")
    return code
