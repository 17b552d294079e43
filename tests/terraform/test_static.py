"""Static checks of `terraform/`: formatting, validation, layout, and the checkov security scan."""

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.tools import require_executable
from tests.terraform.conftest import EXAMPLES, MODULES, REPO, WORKERS

pytestmark = pytest.mark.terraform

DIRS = [f"modules/{m}" for m in MODULES] + [f"examples/{e}" for e in EXAMPLES]
# The checks skipped in the .tf files, each with its reason inline (#checkov:skip=<id>:<reason>).
EXPECTED_CHECKOV_SKIPS = {"CKV_AWS_18", "CKV_AWS_144", "CKV_AWS_145", "CKV2_AWS_62"}


def test_the_layout_is_the_standard_one():
    assert MODULES == ["access-policy", "access-roles", "broker-role", "notebook-bucket"]
    assert EXAMPLES == ["complete"]
    for d in DIRS:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (REPO / "terraform" / d / name).is_file(), f"terraform/{d}/{name} is missing"
    assert (REPO / "terraform" / "README.md").is_file()


@pytest.mark.parametrize("d", DIRS)
def test_versions_are_lower_bounds(d):
    versions = (REPO / "terraform" / d / "versions.tf").read_text()
    constraints = re.findall(r'(?:required_version|version)\s*=\s*"([^"]+)"', versions)
    assert constraints, f"terraform/{d}/versions.tf states no version constraint"
    assert all(c.startswith(">= ") for c in constraints), constraints


@pytest.mark.parametrize("d", DIRS)
def test_every_variable_and_output_is_described(d):
    for name in ("variables.tf", "outputs.tf"):
        text = (REPO / "terraform" / d / name).read_text()
        blocks = re.split(r'^(?=(?:variable|output) ")', text, flags=re.M)
        for block in blocks:
            if block.startswith(("variable ", "output ")):
                assert "description" in block, f"terraform/{d}/{name}: {block.splitlines()[0]} has no description"
                if block.startswith("variable "):
                    assert re.search(r"^\s+type\s+=", block, re.M), f"{block.splitlines()[0]} has no type"


def test_fmt_check(terraform):
    result = terraform.run(REPO / "terraform", "fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def validations(terraform):
    """`terraform validate -json` of every module and example, two at a time."""

    def validate(d):
        return d, json.loads(terraform.run(terraform.dir(d), "validate", "-json", "-no-color", check=False).stdout)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(validate, DIRS))


@pytest.mark.parametrize("d", DIRS)
def test_validate(validations, d):
    result = validations[d]
    messages = [f"{x['severity']}: {x['summary']}: {x.get('detail', '')}" for x in result["diagnostics"]]
    assert result["valid"], messages
    assert messages == []


@pytest.fixture(scope="module")
def checkov():
    """checkov from its own virtualenv (requirements/checkov.txt), bootstrapped through `make checkov-venv`."""
    make = require_executable("make", "install GNU make")
    bootstrap = subprocess.run([make, "-C", str(REPO), "checkov-venv"], capture_output=True, text=True, timeout=600)
    assert bootstrap.returncode == 0, f"make checkov-venv failed:\n{bootstrap.stdout}\n{bootstrap.stderr}"
    return REPO / ".venv-checkov" / "bin" / "checkov"


def test_checkov_passes_with_every_skip_justified(checkov):
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(REPO / "terraform"),
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = json.loads(result.stdout)
    results = results if isinstance(results, list) else [results]
    failed = [c for r in results for c in r["results"]["failed_checks"]]
    skipped = [c for r in results for c in r["results"]["skipped_checks"]]
    passed = [c for r in results for c in r["results"]["passed_checks"]]
    assert failed == [], result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(passed) > 50  # the scan ran over the IAM and S3 resources
    assert {c["check_id"] for c in skipped} == EXPECTED_CHECKOV_SKIPS
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 40, f"{check['check_id']} in {check['file_path']} is skipped without a real reason"
