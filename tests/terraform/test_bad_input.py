"""What Terraform still checks in the access policy file: what AWS itself would refuse, or accept and get wrong.

The file's full rule set is the hub's (authenticator/access_policy.py), run as `entra-access check` and tested in
tests/integration/test_entra_access_cli.py. Here: each precondition the access-policy module keeps stops
`terraform plan` with its exact message (from the module alone: fast, no provider; and once through the example), a
file Terraform cannot read stops it too, and a valid file comes out of Terraform as the hub reads it.
"""

import copy
import json
from pathlib import Path

import pytest
import yaml

from authenticator.access_policy import load_access_policy
from tests.terraform.conftest import REPO

pytestmark = pytest.mark.terraform

DEMO = yaml.safe_load((REPO / "hub" / "demo" / "access-policy.yaml").read_text())
OTHER_GID = "11111111-2222-4333-8444-555555555555"
WILDCARD = (
    "has a '*' or '?', which IAM reads as a wildcard: the {} reach other prefixes too. Fix: use a prefix without them"
)


def variant(change):
    data = copy.deepcopy(DEMO)
    change(data)
    return data


def group(data, index):
    return data["access_groups"][index]


# One case per precondition of terraform/modules/access-policy (its README says why each is there).
PRECONDITIONS = {
    "role-name-too-long": (
        lambda d: group(d, 2).update(role="platform-administrators-with-a-very-long-role-name-here"),
        "access_groups[2] (platform-admins).role: IAM role name "
        "'jupyterhub-platform-administrators-with-a-very-long-role-name-here' is longer than 64 characters or has "
        "characters other than A-Z a-z 0-9 + = , . @ _ -, and IAM refuses it. Fix: use a shorter role (or "
        "role_name_prefix) of those characters",
    ),
    "role-name-characters": (
        lambda d: group(d, 1).update(role="data engineer"),
        "access_groups[1] (data-engineers).role: IAM role name 'jupyterhub-data engineer' is longer than 64 "
        "characters or has characters other than A-Z a-z 0-9 + = , . @ _ -, and IAM refuses it. Fix: use a shorter "
        "role (or role_name_prefix) of those characters",
    ),
    "duplicate-role-other-case": (
        lambda d: group(d, 2).update(role="Analyst"),
        "access_groups[2] (platform-admins).role: IAM role name 'jupyterhub-Analyst' is already used by "
        "access_groups[0] (analysts) (IAM role names ignore case), and IAM refuses a second. Fix: give every access "
        "group its own role",
    ),
    "duplicate-group-name": (
        lambda d: d["access_groups"].append({**group(d, 0), "entra_group_id": OTHER_GID, "role": "other"}),
        "access_groups[3] (analysts).name: duplicate name 'analysts', already used by access_groups[0] (analysts), "
        "and Terraform names each group's resources by it. Fix: give every access group its own name",
    ),
    "session-longer-than-iam-allows": (
        lambda d: group(d, 0).update(session_duration_seconds=43201),
        "access_groups[0] (analysts).session_duration_seconds: 43201 is longer than IAM's longest role session, "
        "43200 s. Fix: use at most 43200 (12 hours)",
    ),
    "notebook-bucket": (
        lambda d: d["deployment"].update(notebook_bucket="demo..bucket"),
        "deployment.notebook_bucket: 'demo..bucket' is not a valid S3 bucket name, and S3 refuses to create it. "
        "Fix: use 3-63 lowercase letters, digits, dots, hyphens",
    ),
    "home-prefix-wildcard": (
        lambda d: d["deployment"].update(home_prefix="home*/"),
        f"deployment.home_prefix: 'home*/' {WILDCARD.format('roles would')}",
    ),
    "location-prefix-wildcard": (
        lambda d: group(d, 0)["s3"][0].update(prefix="shared/?/"),
        f"access_groups[0] (analysts).s3[0].prefix: 'shared/?/' {WILDCARD.format('role would')}",
    ),
}

UNREADABLE = "(file): is not an access policy Terraform can read (not YAML, or a key missing or of the wrong type)."
UNREADABLE_FILES = {
    "missing": (None, "(file): cannot be read. Fix: point access_policy_file at the policy YAML"),
    "not-yaml": ("version: 1\naccess_groups: [\n", UNREADABLE),
    "not-a-mapping": ("- analysts\n", UNREADABLE),
    "role-missing": (yaml.safe_dump(variant(lambda d: group(d, 1).pop("role"))), UNREADABLE),
    "session-not-a-number": (
        yaml.safe_dump(variant(lambda d: group(d, 0).update(session_duration_seconds="1h"))),
        UNREADABLE,
    ),
}

VALID_CASES = {
    "demo": lambda d: None,
    "defaults": lambda d: [g.pop(k, None) for g in d["access_groups"] for k in ("session_duration_seconds", "s3")],
    "empty-optional-keys": lambda d: [d["deployment"].update(aws_partition=None), group(d, 0).update(description=None)],
    "other-partition-and-home": lambda d: d["deployment"].update(aws_partition="aws-us-gov", home_prefix="users/"),
    "upper-case-group-id": lambda d: group(d, 0).update(entra_group_id=group(d, 0)["entra_group_id"].upper()),
    "home-prefix-in-another-bucket": lambda d: group(d, 0)["s3"].append(
        {"bucket": "team-data", "prefix": "home/", "access": "read"}
    ),
    # a key only the hub reads: Terraform passes over it
    "laptop-access": lambda d: [group(d, 0).update(laptop_access=True), group(d, 1).update(laptop_access=False)],
}


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def plan_errors(terraform, where: Path, *args: str) -> tuple[int, list[dict]]:
    """`terraform plan -json`: the exit code and the error diagnostics (their text is not wrapped in JSON)."""
    result = terraform.run(where, "plan", "-json", "-input=false", "-lock=false", "-refresh=false", *args, check=False)
    diagnostics = [json.loads(line)["diagnostic"] for line in result.stdout.splitlines() if '"diagnostic"' in line]
    return result.returncode, [d for d in diagnostics if d["severity"] == "error"]


@pytest.fixture(scope="module")
def policy_root(terraform, tmp_path_factory) -> Path:
    """A root module with only the access-policy module: plans in a fraction of a second, no provider."""
    root = tmp_path_factory.mktemp("policy-root")
    module = terraform.dir("modules/access-policy")
    (root / "main.tf").write_text(
        f'variable "file" {{\n  type = string\n}}\n\nmodule "policy" {{\n  source = "{module}"\n\n'
        "  access_policy_file = var.file\n}\n\n"
        'output "policy" {\n  value = module.policy.policy\n}\n'
    )
    terraform.init(root)
    return root


@pytest.mark.parametrize("case", PRECONDITIONS)
def test_plan_stops_where_aws_would_refuse(terraform, policy_root, tmp_path, case):
    change, message = PRECONDITIONS[case]
    path = write(tmp_path / "access-policy.yaml", variant(change))
    returncode, errors = plan_errors(terraform, policy_root, f"-var=file={path}")
    assert returncode == 1
    assert [e["summary"] for e in errors] == ["Module output value precondition failed"]
    assert errors[0]["detail"] == f"{path}: {message}"


def test_plan_lists_every_such_problem_one_a_line(terraform, policy_root, tmp_path):
    def break_three_rules(d):
        for case in ("role-name-characters", "notebook-bucket", "location-prefix-wildcard"):
            PRECONDITIONS[case][0](d)

    path = write(tmp_path / "access-policy.yaml", variant(break_three_rules))
    returncode, errors = plan_errors(terraform, policy_root, f"-var=file={path}")
    assert returncode == 1
    assert errors[0]["detail"].splitlines() == [
        f"{path}: {PRECONDITIONS[case][1]}"
        for case in ("role-name-characters", "notebook-bucket", "location-prefix-wildcard")
    ]


@pytest.mark.parametrize("case", UNREADABLE_FILES)
def test_plan_stops_at_a_file_terraform_cannot_read(terraform, policy_root, tmp_path, case):
    content, message = UNREADABLE_FILES[case]
    path = tmp_path / "access-policy.yaml"
    if content is not None:
        path.write_text(content)
    returncode, errors = plan_errors(terraform, policy_root, f"-var=file={path}")
    assert returncode == 1
    fix = "" if content is None else f" Fix: run `entra-access check --policy {path}`, which names the key and the fix"
    assert [e["detail"] for e in errors] == [f"{path}: {message}{fix}"]


def test_the_example_plan_stops_before_any_resource(terraform, tmp_path):
    path = write(tmp_path / "access-policy.yaml", variant(PRECONDITIONS["duplicate-group-name"][0]))
    returncode, errors = plan_errors(
        terraform,
        terraform.dir("examples/complete"),
        f"-var=access_policy_file={path}",
        "-var=oidc_provider_arn=arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        "-var=oidc_provider_url=https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
    )
    assert returncode == 1
    assert [(e["summary"], e["detail"]) for e in errors] == [
        ("Module output value precondition failed", f"{path}: {PRECONDITIONS['duplicate-group-name'][1]}")
    ]


@pytest.mark.parametrize("case", VALID_CASES)
def test_the_access_policy_module_reads_a_valid_file_as_the_hub_does(terraform, policy_root, tmp_path, case):
    path = write(tmp_path / "access-policy.yaml", variant(VALID_CASES[case]))
    terraform.run(policy_root, "apply", "-auto-approve", "-input=false", f"-var=file={path}")
    raw = json.loads(terraform.run(policy_root, "output", "-json", "policy").stdout)
    hub = load_access_policy(path)
    d = hub.deployment
    assert raw["deployment"] == {
        "aws_account_id": d.aws_account_id,
        "aws_region": d.aws_region,
        "aws_partition": d.aws_partition,
        "role_name_prefix": d.role_name_prefix,
        "notebook_bucket": d.notebook_bucket,
        "home_prefix": d.home_prefix,
    }
    assert raw["access_groups"] == [
        {
            "name": g.name,
            "entra_group_id": g.entra_group_id,
            "display_name": g.display_name,
            "description": g.description,
            "role": g.role,
            "role_name": g.role_name,
            "role_arn": g.role_arn,
            "session_duration_seconds": g.session_duration_seconds,
            "hub_admin": g.hub_admin,
            "s3": [{"bucket": s.bucket, "prefix": s.prefix, "access": s.access} for s in g.s3],
        }
        for g in hub.access_groups
    ]
