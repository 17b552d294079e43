"""End to end with the real pieces: sign in through the Entra ID emulator with EntraIDOAuthenticator, start a real
JupyterLab server, and obtain credentials inside it through credential_process; CloudTrail's SourceIdentity is the
person's Entra object id."""

import json
import subprocess
import sys

import pytest
import requests

from tests.fixtures.jupyterhub import start_hub, stop_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def entra_broker_hub(entra_emulator, hub_moto, tmp_path_factory):
    env = {
        "HUB_TEST_AUTHENTICATOR": "entra",
        "ENTRA_TENANT_ID": entra_emulator.tenant_id,
        "OAUTH_CLIENT_ID": entra_emulator.client_id,
        "OAUTH_CLIENT_SECRET": entra_emulator.client_secret,
        "ENTRA_AUTHORITY": entra_emulator.url,
        "MICROSOFT_GRAPH_URL": entra_emulator.graph_url,
        "ENTRA_CA_BUNDLE": entra_emulator.ca_path,
        "ENTRA_USERNAME_STRIP_DOMAINS": "contoso.example",
        "ENTRA_MEMBERSHIP_CHECK_SECONDS": "1",
    }
    hub = start_hub(tmp_path_factory.mktemp("entra-broker-hub"), hub_moto, extra_env=env)
    entra_emulator.add_redirect_uri(f"{hub.url}/hub/oauth_callback")
    yield hub
    stop_hub(hub)


def sign_in(hub, emulator, username):
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = emulator.ca_path
    start = browser.get(f"{hub.url}/hub/oauth_login", allow_redirects=False, timeout=30)
    form = browser.get(start.headers["Location"], timeout=30)
    answer = emulator.submit_login(form.text, username, emulator.password)
    callback = browser.get(answer.headers["Location"], allow_redirects=False, timeout=60)
    assert callback.status_code == 302, callback.text[:2000]
    return browser


def test_signed_in_person_gets_their_own_session_inside_the_server(entra_broker_hub, entra_emulator_reset):
    hub, emulator = entra_broker_hub, entra_emulator_reset
    sign_in(hub, emulator, "ana@contoso.example")
    oid = hub.api_request("GET", "/users/ana").json()["auth_state"]["entra"]["oid"]
    assert hub.spawn("ana")["ready"]
    env = hub.server_env("ana")
    result = subprocess.run(
        [sys.executable, "-c", "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/ana"
    (call,) = hub.sts.assume_role_calls("ana")
    assert call["SourceIdentity"] == oid
    assert (call["Tags.member.2.Key"], call["Tags.member.2.Value"]) == ("access-group", "analysts")
