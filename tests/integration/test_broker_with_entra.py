"""End to end with the real pieces: sign in through the Entra ID emulator with EntraIDOAuthenticator, start a real
JupyterLab server, and obtain credentials inside it through credential_process; CloudTrail's SourceIdentity is the
person's Entra object id."""

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.fixtures.jupyterhub import sign_in_through_entra

pytestmark = pytest.mark.integration


def test_signed_in_person_gets_their_own_session_inside_the_server(entra_hub, entra_emulator_reset):
    hub, emulator = entra_hub, entra_emulator_reset
    sign_in_through_entra(hub, emulator, "ana@contoso.example")
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


SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"
TOKEN_LIFETIME = 2  # seconds: every membership check (auth_refresh_age 1 s here) finds the tokens expired


def broker_credentials(hub, server_token: str) -> requests.Response:
    """What credential_process asks the broker for, with the server's own hub API token."""
    headers = {"Authorization": f"token {server_token}"}
    return requests.get(f"{hub.broker_url()}v1/credentials", headers=headers, timeout=30)


def test_a_long_session_keeps_credentials_when_refreshes_bring_no_id_token(entra_hub, entra_emulator_reset):
    """Signed in for many access-token lifetimes, with an Entra that never returns an id_token on refresh: the server
    keeps getting credentials, and loses them within one check interval of leaving the access group."""
    hub, emulator = entra_hub, entra_emulator_reset
    hub.stop_server("ana")  # a server from an earlier test would take the sign-in's redirect
    emulator.set_modes(id_token_on_refresh=False, token_lifetime_seconds=TOKEN_LIFETIME)
    sign_in_through_entra(hub, emulator, "ana@contoso.example")
    assert hub.spawn("ana")["ready"]
    token = hub.server_token("ana")
    signed_in_at = time.monotonic()
    while time.monotonic() - signed_in_at < 3 * TOKEN_LIFETIME:
        assert broker_credentials(hub, token).status_code == 200
        time.sleep(1.1)
    stats = emulator.stats()
    assert stats["grants"]["refresh_token"] >= 2  # tokens refreshed more than once ...
    assert stats["id_tokens_issued"] == 1  # ... and no id_token came back: only the sign-in's
    assert hub.api_request("GET", "/users/ana").json()["auth_state"]["entra"]["groups_checked_at"] > time.time() - 3

    emulator.set_groups("ana@contoso.example", [SALES])
    time.sleep(1.1)  # one check interval
    refused = broker_credentials(hub, token)
    assert refused.status_code in (401, 403), refused.text
    assert "access_key" not in refused.text.lower() and "SecretAccessKey" not in refused.text
    hub.stop_server("ana")
