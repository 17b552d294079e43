"""Revoking one person now, end to end: the real hub with EntraIDOAuthenticator against the Entra ID emulator, the
broker, a real JupyterLab server, `entra-access revoke|unrevoke|revocations` as a hub admin runs them, and the
revocations policy in moto's IAM.

moto stores the policy's versions but evaluates no deny condition (aws:SourceIdentity, aws:TokenIssueTime:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html), so AWS's part is asserted
on the exact document stored as the default version; that AWS then refuses the person's older sessions is AWS's
documented behaviour (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
"""

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from html import unescape

import boto3
import pytest
import requests

from hub.broker.contract import JOB_SCOPE, LAPTOP_SCOPE
from hub.revocation.document import revocations_policy
from tests.fixtures.jupyterhub import EntraSignIn, person, sign_in_through_entra
from tests.fixtures.servers import REPO

pytestmark = pytest.mark.integration

POLICY_ARN = "arn:aws:iam::123456789012:policy/jupyterhub-revocations"  # the demo policy's prefix
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REVOKED_TEXT = re.compile(
    r"Your access was revoked by a hub administrator at \d{4}-\d\d-\d\d \d\d:\d\d UTC: no AWS credentials are issued "
    r"to you and the hub does not let you in\. If this is a mistake, ask a hub administrator to restore it\."
)


def iam(moto: str):
    return boto3.client(
        "iam", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture(scope="module")
def revocations_policy_in_aws(hub_moto):
    """The policy as Terraform's access-roles module creates it: nobody revoked (the module is tested on its own)."""
    client = iam(hub_moto)
    try:
        client.get_policy(PolicyArn=POLICY_ARN)
    except client.exceptions.NoSuchEntityException:
        client.create_policy(PolicyName="jupyterhub-revocations", PolicyDocument=json.dumps(revocations_policy([], 0)))
    return client


def stored_document(client) -> dict:
    version = client.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    document = client.get_policy_version(PolicyArn=POLICY_ARN, VersionId=version)["PolicyVersion"]["Document"]
    return document if isinstance(document, dict) else json.loads(document)


def entra_access(hub, token: str, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "authenticator.explain", *args, "--hub-url", hub.url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**env, "JUPYTERHUB_API_TOKEN": token},
    )


def new_token(hub, name: str, **body) -> str:
    """A token of ``name``'s, made with the tests' admin service (as the person's token page would)."""
    response = hub.api_request("POST", f"/users/{name}/tokens", json={"expires_in": 3600, **body})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def token_ids(hub, name: str) -> list[str]:
    return sorted(t["id"] for t in hub.api_request("GET", f"/users/{name}/tokens").json()["api_tokens"])


def broker(hub, path: str, token: str) -> requests.Response:
    return requests.get(f"{hub.broker_url()}{path}", headers={"Authorization": f"token {token}"}, timeout=30)


def wait_until_stopped(hub, name: str) -> None:
    deadline = time.monotonic() + 30
    while hub.user(name).get("servers"):
        assert time.monotonic() < deadline, f"{name}'s server still runs"
        time.sleep(0.2)


def test_revoke_stops_everything_of_one_person_and_unrevoke_restores_sign_in(
    entra_hub, entra_emulator_reset, revocations_policy_in_aws
):
    hub, emulator, client = entra_hub, entra_emulator_reset, revocations_policy_in_aws
    for name in ("ana", "sam"):
        if hub.api_request("GET", f"/users/{name}").status_code == 200:
            hub.stop_server(name)  # a server from an earlier test would take the sign-in's redirect
    for name in ("ana", "sam", "alex"):
        sign_in_through_entra(hub, emulator, f"{name}@contoso.example")
    ana_oid = hub.user("ana")["auth_state"]["entra"]["oid"]
    assert hub.spawn("ana")["ready"]
    assert hub.spawn("sam", {"aws_access_group": "analysts"})["ready"]
    ana_server, sam_server = hub.server_token("ana"), hub.server_token("sam")
    ana_personal = new_token(hub, "ana", note="personal")
    assert broker(hub, "v1/credentials", ana_server).status_code == 200
    assert broker(hub, "v1/credentials", sam_server).status_code == 200
    sam_personal = new_token(hub, "sam")
    sam_tokens, sam_sts_calls = token_ids(hub, "sam"), len(hub.sts.assume_role_calls("sam"))
    versions_before = client.list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]
    alex = new_token(hub, "alex", note="revocations")  # a hub admin's token with their full permissions

    # Who may not revoke: a person who is not a hub admin, and an admin's token narrowed below stopping servers.
    refused = entra_access(hub, sam_personal, "revoke", "ana")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "entra-access: Only hub admins (members of an access group marked hub_admin in the access policy) may revoke "
        "people or list revocations.\n"
    )
    narrow = new_token(hub, "alex", scopes=["read:users"])
    refused = entra_access(hub, narrow, "revoke", "ana")
    assert (refused.returncode, refused.stderr) == (
        2,
        "entra-access: This token lacks the 'admin:servers' scope, so it may not revoke: make a token on the hub's "
        "token page with your full permissions (the default) and use that.\n",
    )
    refused = entra_access(hub, alex, "revoke", "nobody")
    assert (refused.returncode, refused.stderr) == (
        2,
        "entra-access: No one named 'nobody' has signed in to this hub, so there is nothing to revoke. Use the hub "
        "name (as on the Admin page), e.g. sam.\n",
    )
    assert entra_access(hub, alex, "revocations").stdout.startswith("Nobody is revoked.\n")
    assert hub.user("ana")["servers"][""]["ready"]  # nothing happened to ana
    assert client.list_policy_versions(PolicyArn=POLICY_ARN)["Versions"] == versions_before

    # Revoke.
    ana_sts_calls = len(hub.sts.assume_role_calls("ana"))
    before = time.time()
    result = entra_access(hub, alex, "revoke", "ana")
    after = time.time()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        rf"ana \(Entra object id {ana_oid}\) is revoked since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(by alex\)\.",
        lines[0],
    )
    assert re.fullmatch(
        r"Stopped 1 server, deleted \d+ hub tokens?, closed 0 job runs\. The hub and its credential broker refuse "
        r"them from now on\.",
        lines[1],
    )
    assert re.fullmatch(
        rf"AWS: the revocations policy {POLICY_ARN} is now version v\d+; credentials ana already holds stop working "
        r"within IAM's propagation time \(usually seconds\)\.",
        lines[2],
    )

    # At the hub: the server stopped, every token gone, the old ones refused.
    wait_until_stopped(hub, "ana")
    assert token_ids(hub, "ana") == []
    for token in (ana_server, ana_personal):
        refused = broker(hub, "v1/credentials", token)
        assert (refused.status_code, refused.json()["error"]) == (403, "invalid-token")
    # A token made after the revocation (the person's browser session may still make one until the hub's next
    # re-check) is refused: here the hub's own re-check (every second in this hub) has signed ana out already; the
    # broker's refusal for the time before that is test_the_broker_refuses_a_revoked_person_before_the_hub_does.
    late = new_token(hub, "ana")
    for path in ("v1/credentials", "v1/check"):
        refused = broker(hub, path, late)
        assert (refused.status_code, refused.json()["error"]) == (403, "invalid-token"), refused.text
    # Starting a server again is refused (the hub's re-check signs the person out), and so is signing in.
    status, _ = hub.refused_spawn("ana")
    assert status == 403 and not hub.user("ana").get("servers")
    attempt = EntraSignIn(hub, emulator, "ana@contoso.example")
    page = attempt.finish()
    assert page.status_code == 403
    assert REVOKED_TEXT.search(" ".join(page.text.split()))
    assert len(hub.sts.assume_role_calls("ana")) == ana_sts_calls  # nothing issued since

    # In AWS: the revocations policy denies ana's sessions issued before the update.
    document = stored_document(client)
    (statement,) = document["Statement"]
    deny_before = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert statement == {
        "Sid": "Revoked",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceIdentity": ana_oid},
            "DateLessThan": {"aws:TokenIssueTime": deny_before},
        },
    }
    assert ISO.match(deny_before)
    assert before <= datetime.fromisoformat(deny_before.replace("Z", "+00:00")).timestamp() <= after + 1

    # Nobody else changed: sam's server, tokens and credentials.
    assert hub.user("sam")["servers"][""]["ready"]
    assert token_ids(hub, "sam") == sam_tokens
    assert broker(hub, "v1/credentials", sam_server).status_code == 200
    assert len(hub.sts.assume_role_calls("sam")) >= sam_sts_calls

    # The list: who, oid, since when, by whom, and that AWS denies them.
    listed = entra_access(hub, alex, "revocations")
    assert listed.returncode == 0, listed.stderr
    assert re.fullmatch(
        rf"1 revoked:\n- ana \({ana_oid}\), since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, by alex; in AWS: denied\n"
        rf"Revocations policy {POLICY_ARN}, version v\d+\.\n",
        listed.stdout,
    )
    log = hub.log()
    assert re.search(rf"revoked user=ana oid={ana_oid} by=alex new=True servers_stopped=1 tokens_deleted=\d+", log)

    # Unrevoke: the next sign-in works, and a new server gets credentials.
    result = entra_access(hub, alex, "unrevoke", "ana")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"ana is no longer revoked \(revoked .+ UTC by alex, unrevoked .+ UTC by alex\)\. They sign in again as "
        rf"usual\.\nAWS: the revocations policy {POLICY_ARN} is now version v\d+; it keeps denying their sessions "
        r"issued before now until those expire\.\n",
        result.stdout,
    )
    (statement,) = stored_document(client)["Statement"]
    assert statement["Sid"].startswith("Unrevoked")
    assert statement["Condition"]["StringEquals"] == {"aws:SourceIdentity": ana_oid}
    assert entra_access(hub, alex, "revocations").stdout.startswith("Nobody is revoked.\n")
    sign_in_through_entra(hub, emulator, "ana@contoso.example")
    assert hub.spawn("ana")["ready"]
    assert broker(hub, "v1/credentials", hub.server_token("ana")).status_code == 200
    assert re.search(rf"unrevoked user=ana oid={ana_oid} by=alex aws_policy=v\d+", hub.log())
    assert entra_access(hub, alex, "unrevoke", "ana").stderr == "entra-access: 'ana' is not revoked; nothing to undo.\n"
    for name in ("ana", "sam"):
        hub.stop_server(name)


def test_the_broker_refuses_a_revoked_person_before_the_hub_does(jupyterhub, revocations_policy_in_aws):
    """With an authenticator that does not read the revocations (or before the hub's next re-check), the broker
    itself refuses a revoked person, with every kind of token it serves; nobody else is affected."""
    hub = jupyterhub
    hub.add_people(
        {"rita": person("analysts"), "otto": person("analysts"), "ada": person("platform-admins", "analysts")}
    )
    for name in ("rita", "otto", "ada"):
        hub.login(name)
    assert hub.spawn("otto")["ready"]
    before = new_token(hub, "rita", scopes=[f"{LAPTOP_SCOPE}!user"], note="aws-laptop:analysts")
    assert broker(hub, "v1/credentials", before).status_code == 200  # a laptop token works until the revocation
    otto_server = hub.server_token("otto")
    admin = new_token(hub, "ada")
    # Bad requests to the API are refused with the reason, and record nothing.
    api = f"{hub.broker_url()}v1/revocations"
    for body in (None, b"not json", b'{"person": "rita"}', b'{"user": ""}', b'{"user": 3}'):
        refused = requests.post(api, data=body, headers={"Authorization": f"token {admin}"}, timeout=30)
        assert (refused.status_code, refused.json()) == (
            400,
            {"error": "bad-request", "message": 'Send JSON {"user": "<hub name>"}: the person to revoke.'},
        )
    refused = requests.get(api, headers={"Authorization": f"token {hub.admin_token}"}, timeout=30)  # a service
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "not-a-person", "message": "Only a hub admin's own token may revoke or list revocations."},
    )
    refused = requests.get(api, timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (401, "no-token")
    refused = requests.put(api, headers={"Authorization": f"token {admin}"}, timeout=30)
    assert (refused.status_code, refused.json()["message"]) == (
        405,
        "PUT is not answered here: this endpoint answers GET and POST.",
    )
    assert requests.get(api, headers={"Authorization": f"token {admin}"}, timeout=30).json()["revocations"] == []
    result = entra_access(hub, admin, "revoke", "rita")
    assert result.returncode == 0, result.stderr
    assert "Stopped 0 servers, deleted 1 hub token" in result.stdout.splitlines()[1]
    refused = broker(hub, "v1/credentials", before)
    assert (refused.status_code, refused.json()["error"]) == (403, "invalid-token")  # deleted
    # Tokens made after the revocation (the directory authenticator still accepts rita: only the broker refuses her),
    # of every kind the broker serves: a personal token, a laptop token, a scheduled run's token.
    late = new_token(hub, "rita")
    laptop = new_token(hub, "rita", scopes=[f"{LAPTOP_SCOPE}!user"], note="aws-laptop:analysts")
    job = new_token(hub, "rita", scopes=[f"{JOB_SCOPE}!user"], note="job-run:made-up")
    assert hub.api_request("GET", "/user", token=late).status_code == 200
    for token in (late, laptop, job):
        for path in ("v1/credentials", "v1/check"):
            refused = broker(hub, path, token)
            assert (refused.status_code, refused.json()["error"]) == (403, "revoked"), refused.text
            assert REVOKED_TEXT.fullmatch(refused.json()["message"])
    status, message = hub.refused_spawn("rita")
    assert REVOKED_TEXT.search(message), (status, message)
    assert len(hub.sts.assume_role_calls("rita-laptop")) == 1  # only the laptop session before the revocation
    assert hub.sts.assume_role_calls("rita") == []
    assert "refused status=403 reason=revoked user=rita" in hub.log()
    assert broker(hub, "v1/credentials", otto_server).status_code == 200  # otto is untouched
    assert entra_access(hub, admin, "unrevoke", "rita").returncode == 0
    assert hub.spawn("rita")["ready"]
    assert broker(hub, "v1/credentials", hub.server_token("rita")).status_code == 200
    for name in ("rita", "otto"):
        hub.stop_server(name)


def form_fields(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def words(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_a_hub_admin_revokes_and_restores_from_the_access_page_after_confirming(jupyterhub, revocations_policy_in_aws):
    hub = jupyterhub
    hub.add_people({"page-rev-bo": person("analysts"), "page-rev-kim": person("platform-admins")})
    hub.login("page-rev-bo")
    bo_token = new_token(hub, "page-rev-bo")
    kim = hub.login("page-rev-kim")
    bo_oid = hub.user("page-rev-bo")["auth_state"]["entra"]["oid"]
    page = kim.get(f"{hub.broker_url()}access", params={"user": "page-rev-bo"}, timeout=30)
    assert page.status_code == 200
    assert "Revoke page-rev-bo's access now…" in words(page.text)
    # The button leads to a confirmation; nothing happens before it is confirmed.
    confirm = kim.get(f"{hub.broker_url()}access/revoke", params={"user": "page-rev-bo"}, timeout=30)
    assert confirm.status_code == 200
    assert "Revoke page-rev-bo's access now?" in words(confirm.text)
    assert hub.api_request("GET", "/user", token=bo_token).status_code == 200  # still valid
    fields = form_fields(confirm.text)
    assert fields["user"] == "page-rev-bo"
    # Without the page's XSRF token (a forged form from elsewhere) the post is refused and nothing is recorded.
    forged = kim.post(f"{hub.broker_url()}access/revoke", data={"user": "page-rev-bo"}, timeout=30)
    assert forged.status_code == 403
    assert "Nobody is revoked." in words(kim.get(f"{hub.broker_url()}access", timeout=30).text)
    done = kim.post(f"{hub.broker_url()}access/revoke", data=fields, timeout=30)
    assert done.status_code == 200, done.text
    assert re.search(
        r"Revoked page-rev-bo is revoked: 0 servers stopped, 1 hub token deleted, 0 job runs closed; the hub "
        r"refuses them from now on\. AWS: the revocations policy is now version v\d+\.",
        words(done.text),
    )
    assert hub.api_request("GET", "/users/page-rev-bo/tokens").json()["api_tokens"] == []
    assert hub.api_request("GET", "/user", token=bo_token).status_code == 403
    listed = words(kim.get(f"{hub.broker_url()}access", timeout=30).text)
    assert re.search(rf"page-rev-bo {bo_oid} \d{{4}}-\d\d-\d\d \d\d:\d\d UTC \(.+\) page-rev-kim Unrevoke…", listed)
    # A person who is not a hub admin cannot use the pages.
    bo = hub.login("page-rev-bo")
    refused = bo.get(f"{hub.broker_url()}access/unrevoke", params={"user": "page-rev-bo"}, timeout=30)
    assert refused.status_code == 403
    assert "Only hub admins may revoke people or restore their access." in words(refused.text)
    # Restore.
    confirm = kim.get(f"{hub.broker_url()}access/unrevoke", params={"user": "page-rev-bo"}, timeout=30)
    assert "Restore page-rev-bo's access?" in words(confirm.text)
    done = kim.post(f"{hub.broker_url()}access/unrevoke", data=form_fields(confirm.text), timeout=30)
    assert done.status_code == 200, done.text
    assert re.search(
        r"Access restored page-rev-bo is no longer revoked: they sign in again as usual\. AWS: the revocations policy "
        r"is now version v\d+\.",
        words(done.text),
    )
    assert "Nobody is revoked." in words(kim.get(f"{hub.broker_url()}access", timeout=30).text)
