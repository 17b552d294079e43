"""Tokens and servers that ended get nothing; only a server's own token gets credentials; every refusal is audited
with who, from where, which rule and which parameter or path (issue 11, sections 3 and 4).

The hub here remembers what a token's owner may have for the production default, 30 s (the shared test hub uses
1 s), so that a memo outliving its token would show.
"""

import re

import pytest
import requests

from tests.fixtures.jupyterhub import person, start_hub, stop_hub

pytestmark = pytest.mark.integration

NOT_A_SERVER_TOKEN = (
    "This token is not this notebook server's own token (a personal token from the hub's token page, or another "
    "server's): only a running server's own JUPYTERHUB_API_TOKEN obtains AWS credentials, for that server."
)
INVALID_TOKEN = (
    "This hub token is not valid (any more): the server was stopped, or your sign-in ended, for example because you "
    "were removed from the Entra ID groups that grant access. Sign in to the hub again and restart your server."
)
PREFIX = "/services/aws-credentials/"


@pytest.fixture(scope="module")
def hub(hub_moto, tmp_path_factory):
    hub = start_hub(
        tmp_path_factory.mktemp("ended-tokens"), hub_moto, extra_env={"HUB_TEST_BROKER_TOKEN_CACHE_SECONDS": "30"}
    )
    yield hub
    stop_hub(hub)


def credentials(hub, token, path="v1/credentials", method="GET", **kwargs) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, f"{hub.broker_url()}{path}", headers=headers, timeout=30, **kwargs)


def refusal(response) -> tuple:
    return response.status_code, response.json()["error"], response.json()["message"]


def running(hub, name: str) -> str:
    hub.add_people({name: person("analysts")})
    hub.login(name)
    assert hub.spawn(name)["ready"]
    return hub.server_token(name)


def test_a_stopped_servers_token_gets_nothing_from_the_moment_it_stops(hub):
    token = running(hub, "stub-stopper")
    assert credentials(hub, token).status_code == 200  # what the owner may have is now remembered for 30 s
    hub.stop_server("stub-stopper")
    assert refusal(credentials(hub, token)) == (403, "invalid-token", INVALID_TOKEN)
    assert refusal(credentials(hub, token, path="v1/check")) == (403, "invalid-token", INVALID_TOKEN)


def test_a_revoked_server_token_gets_nothing_from_the_moment_it_is_revoked(hub):
    token = running(hub, "stub-revoker")
    assert credentials(hub, token).status_code == 200
    tokens = hub.api_request("GET", "/users/stub-revoker/tokens").json()["api_tokens"]
    server_token = next(t for t in tokens if t["note"] == "Server at /user/stub-revoker/")
    assert hub.api_request("DELETE", f"/users/stub-revoker/tokens/{server_token['id']}").status_code == 204
    assert refusal(credentials(hub, token)) == (403, "invalid-token", INVALID_TOKEN)
    hub.stop_server("stub-revoker")


@pytest.mark.parametrize(
    "request_body",
    [
        {},  # the hub's token page: the owner's permissions, no expiry
        {"expires_in": 600, "note": "laptop"},  # with an expiry: still not a server's token
        {"scopes": ["custom:aws-credentials:issue!user=stub-laptop"], "expires_in": 600},  # asking for the scope
    ],
)
def test_a_personal_token_gets_nothing_even_while_the_persons_server_runs(hub, request_body):
    running(hub, "stub-laptop")
    created = hub.api_request("POST", "/users/stub-laptop/tokens", json=request_body)
    assert created.status_code == 201, created.text
    log_before = len(hub.log())
    answer = credentials(hub, created.json()["token"])
    assert refusal(answer) == (403, "not-a-server-token", NOT_A_SERVER_TOKEN)
    assert "issued user=stub-laptop" not in hub.log()[log_before:]
    assert (
        f"refused status=403 reason=not-a-server-token user=stub-laptop client=127.0.0.1 method=GET "
        f"path={PREFIX}v1/credentials parameter=-" in hub.log()[log_before:]
    )
    hub.stop_server("stub-laptop")


def test_one_server_token_gets_nothing_for_another_of_the_persons_servers(hub):
    token = running(hub, "stub-two")
    answer = credentials(hub, token, params={"server": "other"})
    assert refusal(answer) == (403, "not-a-server-token", NOT_A_SERVER_TOKEN)
    hub.stop_server("stub-two")


def test_refusals_are_audited_with_who_from_where_which_rule_and_which_parameter_or_path(hub):
    token = running(hub, "stub-audited")
    log_before = len(hub.log())
    assert credentials(hub, token, params={"user": "stub-bob"}).status_code == 400
    assert credentials(hub, "not-a-token").status_code == 403
    assert credentials(hub, None).status_code == 401
    log = hub.log()[log_before:]
    where = f"client=127.0.0.1 method=GET path={PREFIX}v1/credentials"
    assert f"refused status=400 reason=unknown-parameter user=- {where} parameter=user" in log
    assert f"refused status=403 reason=invalid-token user=- {where} parameter=-" in log
    assert f"refused status=401 reason=no-token user=- {where} parameter=-" in log
    assert "stub-bob" not in log and "not-a-token" not in log and token not in log  # names and values stay out
    hub.stop_server("stub-audited")


def test_unknown_paths_and_methods_answer_json_in_the_apis_shape(hub):
    token = running(hub, "stub-paths")
    log_before = len(hub.log())
    missing = credentials(hub, token, path="v1/credentials/stub-bob")
    assert missing.headers["Content-Type"] == "application/json"
    assert refusal(missing) == (
        404,
        "not-found",
        "No such endpoint. The broker answers GET v1/credentials and v1/check (with a server's own token), metrics, "
        "health and access, under its prefix.",
    )
    posted = credentials(hub, token, method="POST", data="{}")
    assert refusal(posted) == (
        405,
        "method-not-allowed",
        "POST is not answered here: this endpoint answers GET.",
    )
    log = hub.log()[log_before:]
    assert (
        f"refused status=404 reason=not-found user=- client=127.0.0.1 method=GET path={PREFIX}v1/credentials/stub-bob"
        in log
    )
    assert (
        f"refused status=405 reason=method-not-allowed user=- client=127.0.0.1 method=POST path={PREFIX}v1/credentials"
        in log
    )
    hub.stop_server("stub-paths")


def test_the_hubs_service_check_finds_the_broker_without_a_404(hub):
    """JupyterHub requests the service's URL, the prefix itself, every service_check_interval (60 s)."""
    log_before = len(hub.log())
    answer = requests.get(f"{hub.url}{PREFIX}", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert not re.search(rf"aws_broker\] \d+ GET {PREFIX} ", hub.log()[log_before:])
