"""`entra-access`, the administrator's "what would this person get, and why?", run as a real command."""

import json
import os
import subprocess
import sys

import pytest

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
