"""docker-compose.yml's `terraform` job, run here without Docker: its TF_VAR_* settings, given to the real Terraform
example, plan the same 24 resources `make demo` creates (moto stands in at a free port, the repository's files at the
paths the job mounts them)."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.fixtures.servers import REPO
from tests.fixtures.tools import require_executable

pytestmark = pytest.mark.terraform

JOB = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["terraform"]


def test_the_terraform_job_plans_the_example_against_moto(moto_endpoint, tmp_path):
    terraform = require_executable("terraform", "install Terraform >= 1.5")
    shutil.copytree(
        REPO / "terraform", tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    example = tmp_path / "terraform" / "examples" / "complete"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    for name, value in JOB["environment"].items():
        if name.startswith("TF_VAR_") or not str(value).startswith("${"):
            env[name] = str(value).replace("http://127.0.0.1:5000", moto_endpoint)
    env["TF_VAR_access_policy_file"] = env["TF_VAR_access_policy_file"].replace("/src/", f"{REPO}/")
    env.update(AWS_ACCESS_KEY_ID="compose-test", AWS_SECRET_ACCESS_KEY="compose-test")
    if env.get("TF_CLI_CONFIG_FILE") and not os.path.isfile(env["TF_CLI_CONFIG_FILE"]):
        env["TF_CLI_CONFIG_FILE"] = os.devnull
    plugin_dir = os.environ.get("TF_PLUGIN_DIR")

    def run(*args):
        return subprocess.run([terraform, *args], cwd=example, env=env, capture_output=True, text=True, timeout=300)

    init = run("init", "-no-color", *([f"-plugin-dir={plugin_dir}"] if plugin_dir else []))
    assert init.returncode == 0, init.stderr
    plan = run("plan", "-no-color", "-detailed-exitcode", f"-state={tmp_path / 'terraform.tfstate'}")
    assert plan.returncode == 2, plan.stderr  # 2: valid, with changes to make
    # 20, and the revocations policy with its attachment to each of the three access roles.
    assert re.search(r"Plan: 24 to add, 0 to change, 0 to destroy", plan.stdout)
    assert "demo-jupyter-notebooks" in plan.stdout and "jupyterhub-data-engineer" in plan.stdout
