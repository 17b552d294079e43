"""`make demo` refusing to start, as a person sees it: exit 2, one message saying what is wrong and what to do, and
nothing started. (Starting and stopping for real is the end-to-end tier's.)"""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.fixtures.local_stack import launcher_env, unique_free_ports
from tests.fixtures.servers import REPO
from tests.fixtures.tools import require_executable

pytestmark = pytest.mark.integration

NAMES = ["hub", "entra", "moto", "hub_api", "proxy_api", "broker"]


def launch(tmp_path, **extra) -> subprocess.CompletedProcess:
    env = launcher_env(tmp_path / "state", unique_free_ports(NAMES), "password-for-tests", extra)
    return subprocess.run(
        [sys.executable, "-m", "hub.local_stack"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_without_terraform_it_says_what_to_install_and_starts_nothing(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with Node.js but no terraform
    bin_dir.mkdir()
    node = require_executable("node", "install Node.js 20")
    (bin_dir / "node").symlink_to(node)
    result = launch(tmp_path, PATH=str(bin_dir))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "The local stack cannot start: Terraform is not installed (no `terraform` on PATH). The local stack creates "
        "the AWS roles, IAM groups and notebook bucket with the repository's Terraform example, as a real deployment "
        "does. Install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install: a single binary; on macOS "
        "`brew install hashicorp/tap/terraform`, on Debian/Ubuntu HashiCorp's apt repository), put it on PATH, and "
        "run `make demo` again.\n"
    )
    assert not (tmp_path / "state").exists()


def test_a_port_in_use_is_named_with_the_variable_that_moves_it(tmp_path):
    require_executable("node", "install Node.js 20")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = launch(tmp_path, TERRAFORM=shutil.which("true"), LOCAL_STACK_HUB_PORT=str(port))
    assert result.returncode == 2
    assert result.stderr == (
        f"The local stack cannot start: Port {port} on 127.0.0.1 is in use (another local stack, JupyterHub or "
        f"moto?). Stop what uses it, or choose another port: LOCAL_STACK_HUB_PORT=<port> make demo\n"
    )


def test_a_folder_it_did_not_make_is_left_alone(tmp_path):
    require_executable("node", "install Node.js 20")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "precious.txt").write_text("keep me")
    result = launch(tmp_path, TERRAFORM=shutil.which("true"))
    assert result.returncode == 2
    assert "was not made by the local stack; set LOCAL_STACK_DIR to another folder." in result.stderr
    assert (tmp_path / "state" / "precious.txt").read_text() == "keep me"


def test_a_run_still_going_in_the_same_folder_is_not_disturbed(tmp_path):
    require_executable("node", "install Node.js 20")
    state = tmp_path / "state"
    state.mkdir()
    (state / ".local-stack").write_text("")
    (state / "launcher.pid").write_text(f"{os.getpid()}\n")  # alive: this test process stands in for it
    result = launch(tmp_path, TERRAFORM=shutil.which("true"))
    assert result.returncode == 2
    assert (
        f"Another local stack (pid {os.getpid()}) is running from {state}: stop it with Ctrl-C in its terminal (or "
        f"`kill {os.getpid()}`), or set LOCAL_STACK_DIR to another folder."
    ) in result.stderr
    assert (state / "launcher.pid").exists()
