"""Fixtures for the Terraform tier: the real `terraform` CLI on a copy of `terraform/`, and a moto server with its
authorization checks on.

Terraform runs on a copy of the repository's `terraform/` (with the demo access policy at the same relative place),
so no `.terraform`, lock file or state ever lands in the checkout. Every directory is initialized once per session
(two at a time), against the provider mirror in ``TF_PLUGIN_DIR`` when that is set (the Makefile sets it on machines
that have one), else from the registry.
"""

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.tools import require_executable

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_HOW = (
    "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install); "
    "set TF_PLUGIN_DIR to a provider mirror on a machine without network access"
)
MODULES = sorted(p.name for p in (REPO / "terraform" / "modules").iterdir() if (p / "main.tf").is_file())
EXAMPLES = sorted(p.name for p in (REPO / "terraform" / "examples").iterdir() if (p / "main.tf").is_file())
WORKERS = 2  # the CI machines have two cores


@dataclass
class Terraform:
    """The terraform CLI, run in directories of a copied tree (``root``)."""

    binary: str
    root: Path
    env: dict = field(default_factory=dict)

    def dir(self, relative: str) -> Path:
        return self.root / "terraform" / relative

    def run(self, where: Path, *args: str, env: dict | None = None, check: bool = True, timeout: float = 600):
        result = subprocess.run(
            [self.binary, *args],
            cwd=where,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} in {where} exited {result.returncode}:\n{result.stderr}\n{result.stdout}",
                pytrace=False,
            )
        return result

    def init(self, where: Path) -> None:
        plugin_dir = os.environ.get("TF_PLUGIN_DIR", "")
        self.run(where, "init", "-input=false", "-no-color", *([f"-plugin-dir={plugin_dir}"] if plugin_dir else []))

    def outputs(self, where: Path, env: dict | None = None) -> dict:
        raw = json.loads(self.run(where, "output", "-json", env=env).stdout)
        return {name: value["value"] for name, value in raw.items()}


def terraform_env() -> dict:
    """The environment Terraform runs with: no ambient AWS identity, no prompts, no update checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1", AWS_EC2_METADATA_DISABLED="true")
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE")
    if cli_config and not Path(cli_config).is_file():
        env["TF_CLI_CONFIG_FILE"] = os.devnull  # these machines point it at a missing file
    return env


def copy_tree(root: Path) -> None:
    """`terraform/` and the demo access policy, at the same relative places as in the repository."""
    shutil.copytree(
        REPO / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.*"),
    )
    (root / "hub" / "demo").mkdir(parents=True)
    shutil.copy2(REPO / "hub" / "demo" / "access-policy.yaml", root / "hub" / "demo" / "access-policy.yaml")


@pytest.fixture(scope="session")
def terraform(tmp_path_factory) -> Terraform:
    """Terraform with every module and example initialized (once per session)."""
    binary = require_executable("terraform", TERRAFORM_HOW)
    root = tmp_path_factory.mktemp("terraform-tree")
    copy_tree(root)
    tf = Terraform(binary, root, terraform_env())
    dirs = [tf.dir(f"modules/{m}") for m in MODULES] + [tf.dir(f"examples/{e}") for e in EXAMPLES]
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(tf.init, dirs))
    return tf
