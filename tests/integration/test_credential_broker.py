"""The credential broker in a real JupyterHub (local spawner, configurable-http-proxy), against a real moto server.

People named ``stub-*`` get a stand-in server process (fast); ``ana`` and friends get real JupyterLab servers.
STS is reached through a recording endpoint (``tests/fixtures/sts_proxy.py``) that counts AssumeRole calls per
person and answers the three test-only roles with injected faults.
"""

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import requests

from tests.fixtures.jupyterhub import BUCKET, person, start_hub, stop_hub
from tests.fixtures.tools import missing_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AWS_CLI = REPO / ".venv-awscli" / "bin" / "aws"
SECRET_FIELDS = ("SecretAccessKey", "SessionToken")


def credentials(hub, token, params=None, headers=None, path="v1/credentials"):
    return requests.get(
        f"{hub.broker_url()}{path}",
        params=params,
        headers={"Authorization": f"token {token}", **(headers or {})},
        timeout=30,
    )


def in_server(env: dict, code: str) -> subprocess.CompletedProcess:
    """Run Python with exactly the server process's environment (as its kernels and terminals do)."""
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def assert_no_secrets_logged(hub, *answers):
    log = hub.log()
    for answer in answers:
        for field in SECRET_FIELDS:
            assert answer[field] not in log, f"a {field} reached the hub's log"


def wait_for(predicate, timeout=20, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# ---- end to end ------------------------------------------------------------------------------------------------


def test_end_to_end_inside_the_server(jupyterhub):
    hub = jupyterhub
    hub.add_people({"ana": person("analysts")})
    hub.login("ana")
    assert hub.spawn("ana")["ready"]
    oid = hub.people["ana"]["oid"]
    env = hub.server_env("ana")

    # Nothing secret in the server's environment; the AWS config runs the helper.
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    assert "credential_process = " in Path(env["AWS_CONFIG_FILE"]).read_text()
    assert env["S3CONTENTS_PREFIX"] == "home/ana"

    # boto3, through credential_process.
    result = in_server(env, "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/ana"

    # The AWS CLI, through credential_process.
    if not AWS_CLI.exists():
        missing_tool("the AWS CLI (.venv-awscli)", "run `make awscli-venv`")
    cli = subprocess.run(
        [str(AWS_CLI), "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/ana"

    # One STS call (the spawn-time check), with the person's identity, tags and session policy.
    (call,) = hub.sts.assume_role_calls("ana")
    assert call["RoleArn"] == "arn:aws:iam::123456789012:role/jupyterhub-analyst"
    assert call["SourceIdentity"] == oid
    assert call["DurationSeconds"] == "3600"
    assert (call["Tags.member.1.Key"], call["Tags.member.1.Value"]) == ("user", "ana")
    assert (call["Tags.member.2.Key"], call["Tags.member.2.Value"]) == ("access-group", "analysts")
    policy = json.loads(call["Policy"])
    assert policy["Statement"][1]["Resource"][0] == f"arn:aws:s3:::{BUCKET}/home/ana/*"

    # A notebook saved through the server's contents API lands in S3 under the person's prefix.
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    response = requests.put(
        f"{hub.url}/user/ana/api/contents/analysis.ipynb",
        headers={"Authorization": f"token {hub.admin_token}"},
        json={"type": "notebook", "format": "json", "content": notebook},
        timeout=60,
    )
    assert response.status_code in (200, 201), response.text
    s3 = boto3.client("s3", endpoint_url=hub.moto, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x")  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="home/")["Contents"]]
    assert "home/ana/analysis.ipynb" in keys
    assert all(k.startswith("home/ana/") for k in keys)

    # Audited, never leaked.
    assert re.search(r"issued user=ana oid=\S+ access_group=analysts role=\S+jupyterhub-analyst session=ana", hub.log())
    answer = credentials(hub, env["JUPYTERHUB_API_TOKEN"]).json()
    assert_no_secrets_logged(hub, answer)


def test_broker_down_the_sdk_shows_a_readable_reason_quickly(jupyterhub):
    hub = jupyterhub
    hub.add_people({"stub-down": person("analysts")})
    hub.login("stub-down")
    assert hub.spawn("stub-down")["ready"]
    env = {**hub.server_env("stub-down"), "JUPYTERHUB_AWS_BROKER_URL": "http://127.0.0.1:9/services/aws-credentials/"}
    started = time.monotonic()
    result = in_server(env, "import boto3; boto3.client('sts').get_caller_identity()")
    assert time.monotonic() - started < 15
    assert result.returncode != 0
    assert "jupyterhub-aws-credentials: the hub's credential broker at http://127.0.0.1:9/" in result.stderr
    assert "could not be reached" in result.stderr


# ---- role choice ---------------------------------------------------------------------------------------------------


def test_role_form_lists_display_names_and_refuses_a_foreign_role(jupyterhub):
    hub = jupyterhub
    hub.add_people({"stub-sam": person("analysts", "data-engineers")})
    session = hub.login("stub-sam")
    form = session.get(f"{hub.url}/hub/spawn", timeout=30)
    assert '<option value="analysts" selected>Analysts</option>' in form.text
    assert '<option value="data-engineers">Data Engineers</option>' in form.text

    xsrf = session.cookies.get("_xsrf", "")
    for wanted in ("platform-admins", "no-such-group"):
        refused = session.post(f"{hub.url}/hub/spawn", data={"aws_access_group": wanted, "_xsrf": xsrf}, timeout=30)
        assert refused.status_code == 403
        assert f"You may not use the AWS role &#39;{wanted}&#39;: it is not one of yours." in refused.text
    assert hub.user("stub-sam")["servers"] == {}
    assert hub.sts.assume_role_calls("stub-sam") == []

    started = session.post(
        f"{hub.url}/hub/spawn", data={"aws_access_group": "data-engineers", "_xsrf": xsrf}, timeout=30
    )
    assert started.status_code == 200
    assert wait_for(lambda: hub.user("stub-sam")["servers"].get("", {}).get("ready"))
    (call,) = hub.sts.assume_role_calls("stub-sam")
    assert call["RoleArn"] == "arn:aws:iam::123456789012:role/jupyterhub-data-engineer"
    assert hub.server_env("stub-sam")["JUPYTERHUB_AWS_ROLE_ARN"] == call["RoleArn"]

    hub.stop_server("stub-sam")
    form = session.get(f"{hub.url}/hub/spawn", timeout=30)
    assert '<option value="data-engineers" selected>Data Engineers</option>' in form.text  # the last choice


def test_api_spawn_with_another_persons_role_is_refused(jupyterhub):
    hub = jupyterhub
    hub.add_people({"stub-eve": person("analysts")})
    hub.login("stub-eve")
    assert hub.refused_spawn("stub-eve", {"aws_access_group": "platform-admins"}) == (
        403,
        "You may not use the AWS role 'platform-admins': it is not one of yours. Choose one of: Analysts.",
    )
    assert hub.user("stub-eve")["servers"] == {}
    assert hub.sts.assume_role_calls("stub-eve") == []
    # The refused choice is not kept as the default: a plain start (no form for one role) gets the one role.
    assert hub.spawn("stub-eve")["ready"]
    assert hub.server_env("stub-eve")["JUPYTERHUB_AWS_ACCESS_GROUP"] == "analysts"


@pytest.mark.parametrize(
    ("name", "group", "status", "message", "min_calls"),
    [
        (
            "stub-mia",
            "missing-role",
            502,
            "Role arn:aws:iam::123456789012:role/jupyterhub-missing does not exist in AWS. An administrator must "
            "create it (terraform apply) or correct the access policy file.",
            1,
        ),
        (
            "stub-dan",
            "denied-role",
            403,
            "The credential broker may not assume role arn:aws:iam::123456789012:role/jupyterhub-denied: its trust "
            "policy does not allow the broker (with sts:SetSourceIdentity and sts:TagSession), or the role does not "
            "exist. An administrator must fix the role's trust policy (terraform apply).",
            1,
        ),
        (
            "stub-tia",
            "throttled-role",
            503,
            "AWS STS is throttling requests for role arn:aws:iam::123456789012:role/jupyterhub-throttled; no "
            "credentials were issued. Try again in a minute.",
            2,
        ),
    ],
)
def test_sts_faults_fail_the_spawn_with_the_reason(jupyterhub, name, group, status, message, min_calls):
    hub = jupyterhub
    hub.add_people({name: person(group)})
    hub.login(name)
    display = group.title()
    assert hub.refused_spawn(name) == (
        status,
        f"AWS credentials for the role {display} could not be prepared: {message}",
    )
    assert hub.user(name)["servers"] == {}
    assert len(hub.sts.assume_role_calls(name)) >= min_calls  # throttling was retried
    assert f"issued user={name} " not in hub.log()


# ---- isolation -----------------------------------------------------------------------------------------------------


def test_a_token_gets_its_owners_credentials_only(jupyterhub):
    hub = jupyterhub
    hub.add_people({"stub-amy": person("analysts"), "stub-bob": person("data-engineers")})
    for name in ("stub-amy", "stub-bob"):
        hub.login(name)
        assert hub.spawn(name)["ready"]
    amy = hub.server_token("stub-amy")
    own = credentials(hub, amy)
    assert own.status_code == 200
    own_arn = "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/stub-amy"
    assert hub.caller_arn(own.json()) == own_arn

    for params in ({"user": "stub-bob"}, {"username": "stub-bob"}, {"role": "data-engineers"}, {"token": "x"}):
        refused = credentials(hub, amy, params=params)
        assert refused.status_code == 400 and refused.json()["error"] == "unknown-parameter"
    assert credentials(hub, amy, params={"server": "stub-bob"}).json()["error"] == "not-a-server-token"
    for headers in ({"X-Forwarded-User": "stub-bob"}, {"X-JupyterHub-User": "stub-bob"}, {"Cookie": "user=stub-bob"}):
        assert hub.caller_arn(credentials(hub, amy, headers=headers).json()) == own_arn
    for path in ("v1/credentials/stub-bob", "v1/credentials/../stub-bob", "v1/users/stub-bob/credentials"):
        assert credentials(hub, amy, path=path).status_code == 404

    # A token without the scope.
    narrow = hub.api_request("POST", "/users/stub-amy/tokens", json={"scopes": ["read:users:name!user"]}).json()
    refused = credentials(hub, narrow["token"])
    assert (refused.status_code, refused.json()["error"]) == (403, "missing-scope")
    # The hub admin's own API token (the tests' admin service): not a person, gets nothing.
    refused = credentials(hub, hub.admin_token)
    assert (refused.status_code, refused.json()["error"]) == (403, "not-a-person")
    # A person who is a hub admin, with a personal token: nothing (not a server's token), and no way to name others.
    hub.add_people({"stub-olga": person("platform-admins")})
    hub.login("stub-olga")
    assert hub.user("stub-olga")["groups"] == ["platform-admins"]  # the hub-admin role comes with this group
    olga = hub.api_request("POST", "/users/stub-olga/tokens", json={}).json()["token"]
    refused = credentials(hub, olga)
    assert (refused.status_code, refused.json()["error"]) == (403, "not-a-server-token")
    assert credentials(hub, olga, params={"user": "stub-amy"}).status_code == 400
    # No token at all.
    assert requests.get(f"{hub.broker_url()}v1/credentials", timeout=30).status_code == 401

    # Metrics need read:metrics.
    assert (
        requests.get(f"{hub.broker_url()}metrics", headers={"Authorization": f"token {amy}"}, timeout=30).status_code
        == 403
    )
    metrics = requests.get(
        f"{hub.broker_url()}metrics", headers={"Authorization": f"token {hub.admin_token}"}, timeout=30
    )
    assert 'aws_broker_refusals_total{reason="unknown-parameter"}' in metrics.text
    assert "aws_broker_sts_seconds_bucket" in metrics.text and "aws_broker_cache_hits_total" in metrics.text
    assert_no_secrets_logged(hub, own.json())


def test_removal_from_the_group_is_refused_at_the_next_check(jupyterhub):
    hub = jupyterhub
    hub.add_people({"stub-rem": person("analysts"), "stub-two": person("analysts", "data-engineers")})
    for name, options in (("stub-rem", {}), ("stub-two", {"aws_access_group": "data-engineers"})):
        hub.login(name)
        assert hub.spawn(name, options)["ready"]
    rem, two = hub.server_token("stub-rem"), hub.server_token("stub-two")
    assert credentials(hub, rem).status_code == 200
    assert credentials(hub, two).status_code == 200

    hub.set_groups("stub-rem")  # in no mapped group any more: signed out
    refused = wait_for(lambda: (r := credentials(hub, rem)).status_code == 403 and r.json())
    assert refused["error"] == "invalid-token"
    assert "removed from the Entra ID groups" in refused["message"]

    hub.set_groups("stub-two", "analysts")  # loses the role the server was started with
    refused = wait_for(lambda: (r := credentials(hub, two)).status_code == 403 and r.json())
    assert refused == {
        "error": "role-not-eligible",
        "message": "You are no longer eligible for the role of access group 'data-engineers' this server was "
        "started with (your roles now: Analysts). Stop the server and start it again with one of them.",
    }


# ---- load ----------------------------------------------------------------------------------------------------------


def test_fifty_people_five_hundred_concurrent_requests_one_sts_call_each(jupyterhub):
    hub = jupyterhub
    names = [f"stub-load-{i:02d}" for i in range(50)]
    hub.add_people({name: person("analysts") for name in names})
    with ThreadPoolExecutor(50) as pool:
        for name in names:
            hub.login(name)
        for response in pool.map(lambda n: hub.api_request("POST", f"/users/{n}/server", json={}), names):
            assert response.status_code in (201, 202)
        assert all(pool.map(lambda n: hub.wait_for_server(n, 120), names))
        tokens = {name: hub.server_token(name) for name in names}

        requests_ = [name for name in names for _ in range(10)]
        answers = list(pool.map(lambda n: (n, credentials(hub, tokens[n])), requests_))
    assert len(answers) == 500 and all(r.status_code == 200 for _, r in answers)

    keys = {}
    for name, response in answers:
        keys.setdefault(name, set()).add(response.json()["AccessKeyId"])
    assert all(len(k) == 1 for k in keys.values())  # each person always gets their own cached session
    assert len({next(iter(k)) for k in keys.values()}) == 50  # nobody gets anyone else's
    for name in names:
        answer = next(r.json() for n, r in answers if n == name)
        assert hub.caller_arn(answer) == f"arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/{name}"
    calls = hub.sts.calls_by_person()
    assert {name: calls[name] for name in names} == dict.fromkeys(names, 1)


# ---- refresh -------------------------------------------------------------------------------------------------------


@pytest.fixture
def short_lived_hub(hub_moto, tmp_path):
    env = {"HUB_TEST_BROKER_ARGS": "--lifetime-seconds 2", "HUB_TEST_SLOW_SPAWN_TIMEOUT": "0"}
    hub = start_hub(tmp_path / "hub", hub_moto, extra_env=env)
    yield hub
    stop_hub(hub)


def test_a_session_outlives_two_credential_expiries_and_keeps_saving(short_lived_hub):
    hub = short_lived_hub
    hub.add_people({"ana": person("analysts")})
    hub.login("ana")
    assert hub.spawn("ana")["ready"]
    # The spawn page named the role while preparing it.
    preparing, ready = hub.progress_messages[1:3]
    assert (
        preparing
        == "Preparing AWS credentials for the role Analysts (arn:aws:iam::123456789012:role/jupyterhub-analyst)"
    )
    assert re.fullmatch(r"AWS credentials for the role Analysts are ready \(valid until \S+Z\)", ready)
    s3 = boto3.client("s3", endpoint_url=hub.moto, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x")  # fmt: skip
    started = time.monotonic()
    saved = 0
    while time.monotonic() - started < 7 or len(hub.sts.assume_role_calls("ana")) < 3:
        assert time.monotonic() - started < 60, "credentials were not refreshed"
        name = f"refresh-{saved}.ipynb"
        response = requests.put(
            f"{hub.url}/user/ana/api/contents/{name}",
            headers={"Authorization": f"token {hub.admin_token}"},
            json={"type": "notebook", "format": "json",
                  "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}},
            timeout=60,
        )  # fmt: skip
        assert response.status_code in (200, 201), response.text
        s3.head_object(Bucket=BUCKET, Key=f"home/ana/{name}")
        saved += 1
        time.sleep(0.5)  # pacing the saves over several credential lifetimes
    fresh = re.findall(r"issued user=ana .* source=sts", hub.log())
    assert len(fresh) >= 3  # minted at spawn, then again after each of at least two expiries
