"""A bad access policy file stops `terraform plan` with the hub's own refusal: same file, same key, same words.

The hub's parser (authenticator/access_policy.py) is the contract. Each case writes a variant of the demo policy,
asks the hub's ``load_access_policy`` for its message, and expects exactly that message from Terraform: from the
example's `terraform plan` for the cases the issue names, from the access-policy module alone (fast, no provider)
for the full table. Valid variants must come out of Terraform as the hub reads them.
"""

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from authenticator.access_policy import AccessPolicyError, load_access_policy
from tests.terraform.conftest import REPO, WORKERS

pytestmark = pytest.mark.terraform

DEMO = yaml.safe_load((REPO / "hub" / "demo" / "access-policy.yaml").read_text())
OTHER_GID = "11111111-2222-4333-8444-555555555555"


def variant(change):
    data = copy.deepcopy(DEMO)
    change(data)
    return data


def group(data, index):
    return data["access_groups"][index]


# The cases the issue names: (file content, the entry the message must name).
NAMED_CASES = {
    "duplicate-group-name": (
        variant(lambda d: d["access_groups"].append({**group(d, 0), "entra_group_id": OTHER_GID, "role": "other"})),
        "access_groups[3] (analysts).name: duplicate name 'analysts', already used by access_groups[0] (analysts)",
    ),
    "invalid-group-id": (
        variant(lambda d: group(d, 1).update(entra_group_id="Data Engineers")),
        "access_groups[1] (data-engineers).entra_group_id: 'Data Engineers' is not an Entra group object id",
    ),
    "role-name-too-long": (
        variant(lambda d: group(d, 2).update(role="platform-administrators-with-a-very-long-role-name-here")),
        "access_groups[2] (platform-admins).role: IAM role name "
        "'jupyterhub-platform-administrators-with-a-very-long-role-name-here' is invalid or longer than 64 characters",
    ),
    "unknown-key": (
        variant(lambda d: group(d, 0).update(session_seconds=7200)),
        "access_groups[0] (analysts).session_seconds: unknown key",
    ),
}

# More of the hub's rules, checked through the access-policy module alone.
TABLE_CASES = {
    "unknown-top-level-key": lambda d: d.update(groups=[]),
    "unknown-deployment-key": lambda d: d["deployment"].update(region="eu-west-1"),
    "unknown-location-key": lambda d: group(d, 0)["s3"][0].update(mode="read"),
    "version": lambda d: d.update(version=2),
    "no-deployment": lambda d: d.pop("deployment"),
    "unquoted-account-id": lambda d: d["deployment"].update(aws_account_id=123456789012),
    "region": lambda d: d["deployment"].update(aws_region="Ireland"),
    "partition": lambda d: d["deployment"].update(aws_partition="azure"),
    "role-name-prefix": lambda d: d["deployment"].update(role_name_prefix="jupyter hub "),
    "notebook-bucket": lambda d: d["deployment"].update(notebook_bucket="Demo_Bucket"),
    "home-prefix": lambda d: d["deployment"].update(home_prefix="/home"),
    "no-access-groups": lambda d: d.update(access_groups=[]),
    "group-not-a-mapping": lambda d: d["access_groups"].append("analysts"),
    "group-name": lambda d: group(d, 0).update(name="Analysts"),
    "group-name-missing": lambda d: group(d, 0).pop("name"),
    "display-name-missing": lambda d: group(d, 1).pop("display_name"),
    "role-missing": lambda d: group(d, 1).pop("role"),
    "role-characters": lambda d: group(d, 1).update(role="data engineer"),
    "duplicate-group-id": lambda d: group(d, 2).update(entra_group_id=group(d, 0)["entra_group_id"].upper()),
    "duplicate-role": lambda d: group(d, 2).update(role="analyst"),
    "session-too-short": lambda d: group(d, 0).update(session_duration_seconds=60),
    "session-not-a-number": lambda d: group(d, 0).update(session_duration_seconds="1h"),
    "session-boolean": lambda d: group(d, 0).update(session_duration_seconds=True),
    "hub-admin": lambda d: group(d, 2).update(hub_admin="yes"),
    "s3-not-a-list": lambda d: group(d, 0).update(s3={"bucket": "b"}),
    "location-not-a-mapping": lambda d: group(d, 0)["s3"].append("s3://demo-jupyter-notebooks/x/"),
    "location-bucket": lambda d: group(d, 0)["s3"][0].update(bucket="x"),
    "location-prefix-wildcard": lambda d: group(d, 0)["s3"][0].update(prefix="shared/*/"),
    "location-prefix-missing": lambda d: group(d, 0)["s3"][0].pop("prefix"),
    "location-inside-homes": lambda d: group(d, 0)["s3"][0].update(prefix="home/ana/"),
    "location-above-homes": lambda d: d["deployment"].update(home_prefix="shared/analysts/homes/"),
    "access-level": lambda d: group(d, 0)["s3"][1].update(access="write"),
    "access-missing": lambda d: group(d, 0)["s3"][1].pop("access"),
}

VALID_CASES = {
    "demo": lambda d: None,
    "defaults": lambda d: [g.pop(k, None) for g in d["access_groups"] for k in ("session_duration_seconds", "s3")],
    "other-partition-and-home": lambda d: d["deployment"].update(aws_partition="aws-us-gov", home_prefix="users/"),
    "upper-case-group-id": lambda d: group(d, 0).update(entra_group_id=group(d, 0)["entra_group_id"].upper()),
    "home-prefix-in-another-bucket": lambda d: group(d, 0)["s3"].append(
        {"bucket": "team-data", "prefix": "home/", "access": "read"}
    ),
}


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hub_refusal(path: Path) -> str:
    with pytest.raises(AccessPolicyError) as refusal:
        load_access_policy(path)
    return str(refusal.value)


def plan_errors(terraform, where: Path, *args: str) -> tuple[int, list[dict]]:
    """`terraform plan -json`: the exit code and the error diagnostics (their text is not wrapped in JSON)."""
    result = terraform.run(where, "plan", "-json", "-input=false", "-lock=false", "-refresh=false", *args, check=False)
    diagnostics = [json.loads(line)["diagnostic"] for line in result.stdout.splitlines() if '"diagnostic"' in line]
    return result.returncode, [d for d in diagnostics if d["severity"] == "error"]


@pytest.fixture(scope="module")
def example_plans(terraform, tmp_path_factory):
    """`terraform plan` of the example for each named case, two at a time (planning stops before any AWS call)."""
    where = terraform.dir("examples/complete")
    files = {
        name: write(tmp_path_factory.mktemp("bad-policy") / "access-policy.yaml", data)
        for name, (data, _) in NAMED_CASES.items()
    }
    placeholders = [
        "-var=oidc_provider_arn=arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        "-var=oidc_provider_url=https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
    ]

    def plan(name):
        return name, (
            files[name],
            *plan_errors(terraform, where, f"-var=access_policy_file={files[name]}", *placeholders),
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(plan, NAMED_CASES))


@pytest.mark.parametrize("case", NAMED_CASES)
def test_terraform_plan_refuses_a_bad_file_naming_the_entry(example_plans, case):
    path, returncode, errors = example_plans[case]
    expected = hub_refusal(path)
    assert NAMED_CASES[case][1] in expected  # the hub names the entry, and so must Terraform
    assert returncode == 1
    assert [e["summary"] for e in errors] == ["Module output value precondition failed"]
    assert errors[0]["detail"] == expected
    assert errors[0]["detail"].startswith(f"{path}: {NAMED_CASES[case][1]}. Fix: ")


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


@pytest.mark.parametrize("case", TABLE_CASES)
def test_the_access_policy_module_refuses_like_the_hub(terraform, policy_root, tmp_path, case):
    path = write(tmp_path / "access-policy.yaml", variant(TABLE_CASES[case]))
    expected = hub_refusal(path)
    returncode, errors = plan_errors(terraform, policy_root, f"-var=file={path}")
    assert returncode == 1
    assert len(errors) == 1, errors
    # The hub stops at its first problem; Terraform lists them all, one a line (a single one for these files).
    assert errors[0]["detail"].splitlines() == [expected]


UNREADABLE = {
    "missing": (
        None,
        "(file): cannot be read (No such file or directory). Fix: point access_policy_file at the policy YAML",
    ),
    "not-a-mapping": (
        "- analysts\n",
        "(top level): must be a mapping. Fix: start from the documented example in the README",
    ),
    # The hub also says which line; Terraform's YAML decoder does not.
    "not-yaml": ("version: 1\naccess_groups: [\n", "(file): is not valid YAML. Fix: correct the YAML syntax there"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_an_unreadable_file_is_refused_like_the_hub(terraform, policy_root, tmp_path, case):
    content, message = UNREADABLE[case]
    path = tmp_path / "access-policy.yaml"
    if content is not None:
        path.write_text(content)
    returncode, errors = plan_errors(terraform, policy_root, f"-var=file={path}")
    assert returncode == 1
    assert [e["detail"] for e in errors] == [f"{path}: {message}"]
    hub = hub_refusal(path)
    assert hub == f"{path}: {message}" if case != "not-yaml" else hub.endswith(message.removeprefix("(file):"))


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
