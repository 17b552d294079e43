"""`entra-access`, the administrator's "what would this person get, and why?", run as a real command."""

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from authenticator.explain import ROLE_CHAINING_NOTE, main
from tests.fixtures.servers import REPO

pytestmark = pytest.mark.integration

POLICY = str(REPO / "hub" / "demo" / "access-policy.yaml")
ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"


def entra_access(*args, env=None):
    clean = {k: v for k, v in os.environ.items() if k != "OAUTH_CLIENT_SECRET"}
    return subprocess.run(
        [sys.executable, "-m", "authenticator.explain", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**clean, **(env or {})},
    )


def test_explain_by_groups_prints_roles_locations_and_why():
    result = entra_access("explain", "--policy", POLICY, "--groups", f"{ANALYSTS},{ENGINEERS}", "--username", "sam")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "sam: may sign in.\n"
        "Own notebooks: s3://demo-jupyter-notebooks/home/sam/ (read-write)\n"
        "Roles (one per access group; the person picks one when starting a server):\n"
        f"- Analysts [analysts], because of Entra group {ANALYSTS}\n"
        "    role arn:aws:iam::123456789012:role/jupyterhub-analyst, credentials for 3600 s\n"
        "    s3://demo-jupyter-notebooks/shared/analysts/ (read-write)\n"
        "    s3://demo-jupyter-notebooks/datasets/curated/ (read)\n"
        f"- Data Engineers [data-engineers], because of Entra group {ENGINEERS}\n"
        "    role arn:aws:iam::123456789012:role/jupyterhub-data-engineer, credentials for 3600 s\n"
        "    s3://demo-jupyter-notebooks/datasets/ (read-write)\n"
    )


def test_explain_no_access_lists_the_granting_groups_and_exits_1():
    result = entra_access("explain", "--policy", POLICY, "--groups", "b40d5c06-f477-42fc-9c90-d4e455f472d7")
    assert result.returncode == 1
    assert result.stdout.startswith("A member of these groups: NO ACCESS. In none of the Entra groups that grant")
    assert f"  - Analysts ({ANALYSTS})\n" in result.stdout


def test_explain_a_user_reads_their_groups_from_graph(entra_emulator):
    env = {"OAUTH_CLIENT_SECRET": entra_emulator.client_secret}
    args = ["--tenant-id", entra_emulator.tenant_id, "--client-id", entra_emulator.client_id]
    args += ["--authority", entra_emulator.url, "--graph-url", entra_emulator.graph_url]
    args += ["--ca-bundle", entra_emulator.ca_path, "--strip-domain", "contoso.example", "--json"]
    result = entra_access("explain", "--policy", POLICY, "--user", "olga@contoso.example", *args, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["username"] == "olga"
    assert [g["name"] for g in answer["access_groups"]] == ["data-engineers"]  # found among 251 groups
    assert answer["admin"] is False
    assert answer["home"] == [{"bucket": "demo-jupyter-notebooks", "prefix": "home/olga/", "access": "read-write"}]
    assert entra_emulator.client_secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["explain", "--policy", POLICY, "--user", "ana@contoso.example"],
            {},
            "entra-access: --user needs --tenant-id, --client-id, OAUTH_CLIENT_SECRET in the environment (the hub's "
            "app registration)\n",
        ),
        (
            ["check", "--policy", "/nonexistent.yaml"],
            {},
            "entra-access: /nonexistent.yaml: (file): cannot be read (No such file or directory). "
            "Fix: point access_policy_file at the policy YAML\n",
        ),
    ],
)
def test_bad_use_is_a_clear_error_not_a_traceback(args, env, message):
    result = entra_access(*args, env=env)
    assert result.returncode == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_check_validates_the_policy_and_says_what_chained_roles_need():
    result = entra_access("check", "--policy", POLICY)
    assert (result.returncode, result.stdout) == (
        0,
        f"{POLICY}: valid, 3 access groups\n"
        "Note: roles that people assume from a notebook (role chaining) must allow sts:TagSession and "
        "sts:SetSourceIdentity in their trust policy: the brokered session's tags (user, access-group) and source "
        "identity travel with them, and AWS refuses the chained call otherwise.\n",
    )


def graph_args(emulator) -> list[str]:
    args = ["--tenant-id", emulator.tenant_id, "--client-id", emulator.client_id, "--authority", emulator.url]
    return [*args, "--graph-url", emulator.graph_url, "--ca-bundle", emulator.ca_path, "--timeout", "3"]


@pytest.mark.parametrize(
    ("granted", "refusal"),
    [
        (
            ["GroupMember.Read.All"],
            "Microsoft Graph refused to look up users: the app registration lacks the application permission "
            "User.ReadBasic.All.",
        ),
        (
            ["User.ReadBasic.All"],
            "Microsoft Graph refused to read group memberships: the app registration lacks the application permission "
            "GroupMember.Read.All.",
        ),
    ],
    ids=["no-user-lookup", "no-memberships"],
)
def test_explain_a_user_names_the_graph_permission_it_lacks(entra_emulator_reset, granted, refusal):
    entra_emulator_reset.set_app_registration(graph_permissions=granted)
    env = {"OAUTH_CLIENT_SECRET": entra_emulator_reset.client_secret}
    args = ["explain", "--policy", POLICY, "--user", "ana@contoso.example", *graph_args(entra_emulator_reset)]
    result = entra_access(*args, env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"entra-access: {refusal} Add it under API permissions (Microsoft Graph, Application) and grant admin consent\n"
    )


def test_explain_a_user_while_graph_throttles_beyond_the_timeout(entra_emulator_reset):
    entra_emulator_reset.throttle(100, retry_after=30)
    env = {"OAUTH_CLIENT_SECRET": entra_emulator_reset.client_secret}
    args = ["explain", "--policy", POLICY, "--user", "ana@contoso.example", *graph_args(entra_emulator_reset)]
    result = entra_access(*args, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "entra-access: Microsoft Graph is throttling this application (429) beyond 3 s of retries\n"


# `entra-access check` is the access policy file's one full check, run wherever the file changes (before
# `terraform apply` and `helm upgrade`). Each bad file below is a variant of the demo policy with one problem; the
# check must refuse it with exactly this message and exit 2. (In-process: the same main() as the command, without the
# seconds each `entra-access` process spends importing the hub's libraries; the tests above run the command itself.)
DEMO = yaml.safe_load((REPO / "hub" / "demo" / "access-policy.yaml").read_text())
OTHER_GID = "11111111-2222-4333-8444-555555555555"
PREFIX_FIX = "use a relative prefix ending in '/', without '*' or '..', like "
GROUP_KEYS = (
    "description, display_name, entra_group_id, hub_admin, laptop_access, name, role, s3, session_duration_seconds"
)
OVERLAP = "overlaps the personal homes under {}, so it would expose other people's notebooks"


def group(data, index):
    return data["access_groups"][index]


BAD_FILES = {
    "duplicate-group-name": (
        lambda d: d["access_groups"].append({**group(d, 0), "entra_group_id": OTHER_GID, "role": "other"}),
        "access_groups[3] (analysts).name: duplicate name 'analysts', already used by access_groups[0] (analysts). "
        "Fix: give every access group its own name",
    ),
    "invalid-group-id": (
        lambda d: group(d, 1).update(entra_group_id="Data Engineers"),
        "access_groups[1] (data-engineers).entra_group_id: 'Data Engineers' is not an Entra group object id. "
        "Fix: copy the group's Object ID (a GUID) from the Entra admin center",
    ),
    "role-name-too-long": (
        lambda d: group(d, 2).update(role="platform-administrators-with-a-very-long-role-name-here"),
        "access_groups[2] (platform-admins).role: IAM role name "
        "'jupyterhub-platform-administrators-with-a-very-long-role-name-here' is invalid or longer than 64 "
        "characters. Fix: use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -",
    ),
    "unknown-key": (
        lambda d: group(d, 0).update(session_seconds=7200),
        f"access_groups[0] (analysts).session_seconds: unknown key. Fix: remove it or use one of: {GROUP_KEYS}",
    ),
    "unknown-top-level-key": (
        lambda d: d.update(groups=[]),
        "groups: unknown key. Fix: remove it or use one of: access_groups, deployment, version",
    ),
    "unknown-deployment-key": (
        lambda d: d["deployment"].update(region="eu-west-1"),
        "deployment.region: unknown key. Fix: remove it or use one of: aws_account_id, aws_partition, aws_region, "
        "home_prefix, notebook_bucket, role_name_prefix",
    ),
    "unknown-location-key": (
        lambda d: group(d, 0)["s3"][0].update(mode="read"),
        "access_groups[0] (analysts).s3[0].mode: unknown key. Fix: remove it or use one of: access, bucket, prefix",
    ),
    "version": (lambda d: d.update(version=2), "version: must be 1. Fix: set `version: 1`"),
    "no-deployment": (
        lambda d: d.pop("deployment"),
        "deployment: is missing or not a mapping. Fix: add the `deployment:` block (account, region, bucket)",
    ),
    "unquoted-account-id": (
        lambda d: d["deployment"].update(aws_account_id=123456789012),
        'deployment.aws_account_id: must be a 12-digit AWS account id in quotes. Fix: write it as "123456789012"',
    ),
    "region": (
        lambda d: d["deployment"].update(aws_region="Ireland"),
        "deployment.aws_region: 'Ireland' is not an AWS region name. Fix: use a name like eu-west-1",
    ),
    "region-empty": (
        lambda d: d["deployment"].update(aws_region=None),
        "deployment.aws_region: is missing. Fix: add `aws_region:`",
    ),
    "partition": (
        lambda d: d["deployment"].update(aws_partition="azure"),
        "deployment.aws_partition: 'azure' is not an AWS partition. Fix: use one of ('aws', 'aws-cn', 'aws-us-gov')",
    ),
    "role-name-prefix": (
        lambda d: d["deployment"].update(role_name_prefix="jupyter hub "),
        "deployment.role_name_prefix: must be at most 32 characters of A-Z a-z 0-9 + = , . @ _ -. "
        "Fix: use a short prefix such as jupyterhub-",
    ),
    "notebook-bucket": (
        lambda d: d["deployment"].update(notebook_bucket="Demo_Bucket"),
        "deployment.notebook_bucket: 'Demo_Bucket' is not a valid S3 bucket name. "
        "Fix: use 3-63 lowercase letters, digits, dots, hyphens",
    ),
    "home-prefix": (
        lambda d: d["deployment"].update(home_prefix="/home"),
        f"deployment.home_prefix: '/home' is not an S3 prefix. Fix: {PREFIX_FIX}home/",
    ),
    "home-prefix-wildcard": (
        lambda d: d["deployment"].update(home_prefix="*/"),
        f"deployment.home_prefix: '*/' is not an S3 prefix. Fix: {PREFIX_FIX}home/",
    ),
    "no-access-groups": (
        lambda d: d.update(access_groups=[]),
        "access_groups: must be a non-empty list. Fix: list at least one access group",
    ),
    "group-not-a-mapping": (
        lambda d: d["access_groups"].append("analysts"),
        "access_groups[3]: must be a mapping. Fix: write each access group as `- name: ...` with its keys",
    ),
    "group-name": (
        lambda d: group(d, 0).update(name="Analysts"),
        "access_groups[0].name: 'Analysts' is not a valid short name. "
        "Fix: use 2-32 lowercase letters, digits and hyphens, starting with a letter",
    ),
    "group-name-missing": (lambda d: group(d, 0).pop("name"), "access_groups[0].name: is missing. Fix: add `name:`"),
    "group-name-not-text": (
        lambda d: group(d, 0).update(name=7),
        "access_groups[0].name: must be a non-empty string. Fix: quote the value",
    ),
    "display-name-missing": (
        lambda d: group(d, 1).pop("display_name"),
        "access_groups[1] (data-engineers).display_name: is missing. Fix: add `display_name:`",
    ),
    "description-empty": (
        lambda d: group(d, 1).update(description=" "),
        "access_groups[1] (data-engineers).description: must be a non-empty string. Fix: quote the value",
    ),
    "role-missing": (
        lambda d: group(d, 1).pop("role"),
        "access_groups[1] (data-engineers).role: is missing. Fix: add `role:`",
    ),
    "role-characters": (
        lambda d: group(d, 1).update(role="data engineer"),
        "access_groups[1] (data-engineers).role: IAM role name 'jupyterhub-data engineer' is invalid or longer than "
        "64 characters. Fix: use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -",
    ),
    "duplicate-group-id": (
        lambda d: group(d, 2).update(entra_group_id=group(d, 0)["entra_group_id"].upper()),
        "access_groups[2] (platform-admins).entra_group_id: duplicate entra_group_id "
        "'253daff1-76ee-47b8-9495-b4b707cbf668', already used by access_groups[0] (analysts). "
        "Fix: give every access group its own entra_group_id",
    ),
    "duplicate-role": (
        lambda d: group(d, 2).update(role="analyst"),
        "access_groups[2] (platform-admins).role: duplicate role 'analyst', already used by access_groups[0] "
        "(analysts). Fix: give every access group its own role",
    ),
    "duplicate-role-other-case": (
        lambda d: group(d, 2).update(role="Analyst"),
        "access_groups[2] (platform-admins).role: duplicate role 'Analyst', already used by access_groups[0] "
        "(analysts). Fix: give every access group its own role",
    ),
    **{
        f"session-{case}": (
            lambda d, value=value: group(d, 0).update(session_duration_seconds=value),
            "access_groups[0] (analysts).session_duration_seconds: must be a whole number of seconds from 900 to "
            "43200. Fix: use for example 3600 (one hour)",
        )
        for case, value in {"too-short": 60, "too-long": 43201, "not-a-number": "1h", "boolean": True}.items()
    },
    "hub-admin": (
        lambda d: group(d, 2).update(hub_admin="yes"),
        "access_groups[2] (platform-admins).hub_admin: must be true or false. "
        "Fix: write `hub_admin: true` or leave it out",
    ),
    "s3-not-a-list": (
        lambda d: group(d, 0).update(s3={"bucket": "b"}),
        "access_groups[0] (analysts).s3: must be a list of S3 locations. "
        "Fix: write `s3: []` or list bucket/prefix/access",
    ),
    "location-not-a-mapping": (
        lambda d: group(d, 0)["s3"].append("s3://demo-jupyter-notebooks/x/"),
        "access_groups[0] (analysts).s3[2]: must be a mapping. Fix: write `- {bucket: ..., prefix: ..., access: read}`",
    ),
    "location-bucket": (
        lambda d: group(d, 0)["s3"][0].update(bucket="x"),
        "access_groups[0] (analysts).s3[0].bucket: 'x' is not a valid S3 bucket name. "
        "Fix: use 3-63 lowercase letters, digits, dots, hyphens",
    ),
    "location-prefix-wildcard": (
        lambda d: group(d, 0)["s3"][0].update(prefix="shared/*/"),
        f"access_groups[0] (analysts).s3[0].prefix: 'shared/*/' is not an S3 prefix. Fix: {PREFIX_FIX}shared/analysts/",
    ),
    "location-prefix-climbs": (
        lambda d: group(d, 0)["s3"][0].update(prefix="shared/../home/"),
        "access_groups[0] (analysts).s3[0].prefix: 'shared/../home/' is not an S3 prefix. "
        f"Fix: {PREFIX_FIX}shared/analysts/",
    ),
    "location-prefix-missing": (
        lambda d: group(d, 0)["s3"][0].pop("prefix"),
        "access_groups[0] (analysts).s3[0].prefix: is missing. Fix: add `prefix:`",
    ),
    "location-inside-homes": (
        lambda d: group(d, 0)["s3"][0].update(prefix="home/ana/"),
        "access_groups[0] (analysts).s3[0].prefix: s3://demo-jupyter-notebooks/home/ana/ "
        f"{OVERLAP.format('home/')}. Fix: use a shared prefix outside the home prefix",
    ),
    "location-above-homes": (
        lambda d: d["deployment"].update(home_prefix="shared/analysts/homes/"),
        "access_groups[0] (analysts).s3[0].prefix: s3://demo-jupyter-notebooks/shared/analysts/ "
        f"{OVERLAP.format('shared/analysts/homes/')}. Fix: use a shared prefix outside the home prefix",
    ),
    "access-level": (
        lambda d: group(d, 0)["s3"][1].update(access="write"),
        "access_groups[0] (analysts).s3[1].access: 'write' is not an access level. Fix: use `read` or `read-write`",
    ),
    "access-missing": (
        lambda d: group(d, 0)["s3"][1].pop("access"),
        "access_groups[0] (analysts).s3[1].access: None is not an access level. Fix: use `read` or `read-write`",
    ),
}

UNREADABLE_FILES = {
    "missing": (
        None,
        "(file): cannot be read (No such file or directory). Fix: point access_policy_file at the policy YAML",
    ),
    "not-a-mapping": (
        "- analysts\n",
        "(top level): must be a mapping. Fix: start from the documented example in the README",
    ),
    "empty": ("", "(top level): must be a mapping. Fix: start from the documented example in the README"),
    "not-yaml": ("version: 1\naccess_groups: [\n", "line 3: is not valid YAML. Fix: correct the YAML syntax there"),
}


def check(path, capsys) -> tuple[int, str, str]:
    code = main(["check", "--policy", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", BAD_FILES)
def test_check_refuses_a_bad_file_with_the_file_the_key_and_the_fix(tmp_path, capsys, case):
    change, message = BAD_FILES[case]
    data = copy.deepcopy(DEMO)
    change(data)
    path = tmp_path / "access-policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert check(path, capsys) == (2, "", f"entra-access: {path}: {message}\n")


@pytest.mark.parametrize("case", UNREADABLE_FILES)
def test_check_refuses_an_unreadable_file(tmp_path, capsys, case):
    content, message = UNREADABLE_FILES[case]
    path = tmp_path / "access-policy.yaml"
    if content is not None:
        path.write_text(content)
    assert check(path, capsys) == (2, "", f"entra-access: {path}: {message}\n")


def test_check_accepts_what_it_reads_the_same_way_as_the_hub(tmp_path, capsys):
    data = copy.deepcopy(DEMO)
    data["deployment"].update(aws_partition=None, home_prefix="users/")  # `key:` without a value: the default
    group(data, 0)["entra_group_id"] = group(data, 0)["entra_group_id"].upper()
    path = tmp_path / "access-policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert check(path, capsys) == (0, f"{path}: valid, 3 access groups\n{ROLE_CHAINING_NOTE}\n", "")
