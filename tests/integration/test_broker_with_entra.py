"""End to end with the real pieces: sign in through the Entra ID emulator with EntraIDOAuthenticator, start a real
JupyterLab server, and obtain credentials inside it through credential_process; CloudTrail's SourceIdentity is the
person's Entra object id."""

import json
import subprocess
import sys

import pytest

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
