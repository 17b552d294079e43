"""The access policy file: the demo file parses; every bad file is refused naming the file, the key and the fix."""

import copy
from pathlib import Path

import pytest
import yaml

from authenticator.access_policy import (
    GUID_PATTERN,
    AccessPolicyError,
    S3Location,
    is_guid,
    load_access_policy,
    parse_access_policy,
)

pytestmark = pytest.mark.unit

DEMO = Path(__file__).resolve().parents[2] / "hub" / "demo" / "access-policy.yaml"
ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"
ADMINS = "2a95bd00-d53d-4f76-87f4-0e8a179a4fd6"


@pytest.fixture
def demo_data():
    return yaml.safe_load(DEMO.read_text())


def test_demo_policy_parses():
    policy = load_access_policy(DEMO)
    assert policy.deployment.notebook_bucket == "demo-jupyter-notebooks"
    assert [g.name for g in policy.access_groups] == ["analysts", "data-engineers", "platform-admins"]
    analysts = policy.group("analysts")
    assert analysts.role_name == "jupyterhub-analyst"
    assert analysts.role_arn == "arn:aws:iam::123456789012:role/jupyterhub-analyst"
    assert analysts.s3 == (
        S3Location("demo-jupyter-notebooks", "shared/analysts/", "read-write"),
        S3Location("demo-jupyter-notebooks", "datasets/curated/", "read"),
    )
    assert policy.deployment.home_location("ana") == S3Location("demo-jupyter-notebooks", "home/ana/", "read-write")


def test_laptop_access_is_on_unless_a_group_turns_it_off(demo_data):
    demo_data["access_groups"][1]["laptop_access"] = False
    demo_data["access_groups"][2]["laptop_access"] = True
    policy = parse_access_policy(demo_data)
    assert [g.laptop_access for g in policy.access_groups] == [True, False, True]


@pytest.mark.parametrize(
    ("group_ids", "names", "admin"),
    [
        ([ANALYSTS], ["analysts"], False),
        ([ENGINEERS, ANALYSTS.upper()], ["analysts", "data-engineers"], False),  # policy order; ids case-folded
        ([ADMINS], ["platform-admins"], True),
        (["99999999-9999-4999-8999-999999999999"], [], False),
        ([], [], False),
    ],
)
def test_decisions(group_ids, names, admin):
    decision = load_access_policy(DEMO).decide(group_ids)
    assert decision.group_names == names
    assert decision.allowed is bool(names)
    assert decision.admin is admin


def _set(data, path, value):
    *parents, last = path
    target = data
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("colour",),
            "blue",
            "policy.yaml: colour: unknown key. Fix: remove it or use one of: access_groups, deployment, version",
        ),
        (
            ("access_groups", 0, "rol"),
            "x",
            "policy.yaml: access_groups[0] (analysts).rol: unknown key. Fix: remove it or use one of: "
            "description, display_name, entra_group_id, hub_admin, laptop_access, name, role, s3, "
            "session_duration_seconds",
        ),
        (
            ("access_groups", 1, "name"),
            "analysts",
            "policy.yaml: access_groups[1] (analysts).name: duplicate name 'analysts', already used by "
            "access_groups[0] (analysts). Fix: give every access group its own name",
        ),
        (
            ("access_groups", 1, "entra_group_id"),
            ANALYSTS,
            "policy.yaml: access_groups[1] (data-engineers).entra_group_id: duplicate entra_group_id "
            f"'{ANALYSTS}', already used by access_groups[0] (analysts). Fix: give every access group its own "
            "entra_group_id",
        ),
        (
            ("access_groups", 1, "role"),
            "Analyst",  # IAM role names ignore case
            "policy.yaml: access_groups[1] (data-engineers).role: duplicate role 'Analyst', already used by "
            "access_groups[0] (analysts). Fix: give every access group its own role",
        ),
        (
            ("access_groups", 0, "role"),
            _DELETE,
            "policy.yaml: access_groups[0] (analysts).role: is missing. Fix: add `role:`",
        ),
        (
            ("access_groups", 0, "entra_group_id"),
            "analysts-group",
            "policy.yaml: access_groups[0] (analysts).entra_group_id: 'analysts-group' is not an Entra group "
            "object id. Fix: copy the group's Object ID (a GUID) from the Entra admin center",
        ),
        (
            ("access_groups", 0, "role"),
            "r" * 60,
            "policy.yaml: access_groups[0] (analysts).role: IAM role name 'jupyterhub-" + "r" * 60 + "' is invalid "
            "or longer than 64 characters. Fix: use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -",
        ),
        (
            ("access_groups", 0, "session_duration_seconds"),
            60,
            "policy.yaml: access_groups[0] (analysts).session_duration_seconds: must be a whole number of seconds "
            "from 900 to 43200. Fix: use for example 3600 (one hour)",
        ),
        (
            ("access_groups", 0, "s3", 0, "access"),
            "write",
            "policy.yaml: access_groups[0] (analysts).s3[0].access: 'write' is not an access level. "
            "Fix: use `read` or `read-write`",
        ),
        (
            ("access_groups", 0, "s3", 0, "prefix"),
            "home/",
            "policy.yaml: access_groups[0] (analysts).s3[0].prefix: s3://demo-jupyter-notebooks/home/ overlaps the "
            "personal homes under home/, so it would expose other people's notebooks. Fix: use a shared prefix "
            "outside the home prefix",
        ),
        (
            ("access_groups", 0, "s3", 0, "prefix"),
            "shared/../home/",
            "policy.yaml: access_groups[0] (analysts).s3[0].prefix: 'shared/../home/' is not an S3 prefix. Fix: use "
            "a relative prefix ending in '/', without '*' or '..', like shared/analysts/",
        ),
        (
            ("deployment", "aws_account_id"),
            123456789012,
            "policy.yaml: deployment.aws_account_id: must be a 12-digit AWS account id in quotes. "
            'Fix: write it as "123456789012"',
        ),
        (
            ("deployment", "notebook_bucket"),
            "Bad_Bucket",
            "policy.yaml: deployment.notebook_bucket: 'Bad_Bucket' is not a valid S3 bucket name. "
            "Fix: use 3-63 lowercase letters, digits, dots, hyphens",
        ),
        (
            ("deployment", "home_prefix"),
            "*/",
            "policy.yaml: deployment.home_prefix: '*/' is not an S3 prefix. Fix: use a relative prefix ending in '/', "
            "without '*' or '..', like home/",
        ),
        (
            ("deployment", "aws_region"),
            None,  # `aws_region:` without a value
            "policy.yaml: deployment.aws_region: is missing. Fix: add `aws_region:`",
        ),
        (
            ("access_groups", 0, "display_name"),
            7,
            "policy.yaml: access_groups[0] (analysts).display_name: must be a non-empty string. Fix: quote the value",
        ),
        (
            ("access_groups", 0, "hub_admin"),
            "yes",
            "policy.yaml: access_groups[0] (analysts).hub_admin: must be true or false. "
            "Fix: write `hub_admin: true` or leave it out",
        ),
        (
            ("access_groups", 0, "laptop_access"),
            "no",
            "policy.yaml: access_groups[0] (analysts).laptop_access: must be true or false. "
            "Fix: write `laptop_access: false` to turn it off, or leave it out",
        ),
        (
            ("access_groups", 0, "s3", 1),
            "s3://demo-jupyter-notebooks/datasets/",
            "policy.yaml: access_groups[0] (analysts).s3[1]: must be a mapping. "
            "Fix: write `- {bucket: ..., prefix: ..., access: read}`",
        ),
        (("version",), 2, "policy.yaml: version: must be 1. Fix: set `version: 1`"),
        (
            ("access_groups",),
            [],
            "policy.yaml: access_groups: must be a non-empty list. Fix: list at least one access group",
        ),
    ],
)
def test_bad_policy_is_refused_naming_file_key_and_fix(demo_data, path, value, message):
    data = copy.deepcopy(demo_data)
    _set(data, path, value)
    with pytest.raises(AccessPolicyError) as refused:
        parse_access_policy(data, "policy.yaml")
    assert str(refused.value) == message


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(AccessPolicyError, match=r"missing\.yaml: \(file\): cannot be read"):
        load_access_policy(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\naccess_groups: [\n")
    with pytest.raises(AccessPolicyError, match=r"broken\.yaml: line \d+: is not valid YAML"):
        load_access_policy(broken)


def test_a_null_optional_text_key_means_its_default(demo_data):
    data = copy.deepcopy(demo_data)
    data["deployment"].update(aws_partition=None, home_prefix=None)
    data["access_groups"][0]["description"] = None
    policy = parse_access_policy(data)
    assert (policy.deployment.aws_partition, policy.deployment.home_prefix) == ("aws", "home/")
    assert policy.access_groups[0].description == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ANALYSTS, True),
        (ANALYSTS.upper(), True),  # Entra shows object ids in either case
        (ANALYSTS[:-1], False),
        (f"{ANALYSTS}\n", False),
        ("analysts", False),
        (None, False),
        (253, False),
    ],
)
def test_is_guid(text, expected):
    assert is_guid(text) is expected


def test_guid_pattern_is_the_lowercase_form():
    assert GUID_PATTERN.fullmatch(ANALYSTS)
    assert not GUID_PATTERN.fullmatch(ANALYSTS.upper())
