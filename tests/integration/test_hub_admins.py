"""Hub admins run the hub; they cannot become another person (issue 11, section 1).

A real JupyterHub with the real authenticator against the Entra ID emulator: alex (Platform Admins, a hub admin) and
sam (a person with a running server). Every admin route that could reach sam's server, tokens or auth_state is tried
with alex's own API token and alex's browser session, and what admins still need keeps working.
"""

import re
import sqlite3
import time
from urllib.parse import urlencode

import pytest
import requests

from tests.fixtures.jupyterhub import person, sign_in_through_entra, start_hub, stop_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub_with_admin_and_sam(entra_hub, entra_emulator):
    """alex and sam signed in, sam's server running; alex's own API token (as from the hub's token page)."""
    entra_emulator.reset()
    hub = entra_hub
    for name in ("alex", "sam"):
        if hub.api_request("GET", f"/users/{name}").status_code == 200:
            hub.stop_server(name)
            hub.api_request("DELETE", f"/users/{name}")
    alex = sign_in_through_entra(hub, entra_emulator, "alex@contoso.example").browser
    sign_in_through_entra(hub, entra_emulator, "sam@contoso.example")
    assert hub.spawn("sam", {"aws_access_group": "analysts"})["ready"]
    created = hub.api_request("POST", "/users/alex/tokens", json={"note": "alex's own", "expires_in": 3600})
    assert created.status_code == 201, created.text
    yield hub, alex, created.json()["token"]
    hub.stop_server("sam")


def as_alex(hub, token, method, path, **kwargs) -> requests.Response:
    return hub.api_request(method, path, token=token, **kwargs)


def test_a_hub_admin_is_no_jupyterhub_admin_but_holds_the_hub_admin_role(hub_with_admin_and_sam):
    hub, _, token = hub_with_admin_and_sam
    alex = hub.user("alex")
    assert alex["admin"] is False
    assert alex["groups"] == ["platform-admins"]
    scopes = as_alex(hub, token, "GET", "/user").json()["scopes"]
    assert {"admin-ui", "list:users", "admin:servers", "delete:users", "read:groups"} <= set(scopes)
    assert not {"access:servers", "admin:auth_state", "tokens", "read:tokens", "admin:users", "shares", "groups"} & set(
        scopes
    )


def scopes_needed(*scopes):
    return f"Action is not authorized with current scopes; requires any of [{', '.join(scopes)}]"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        # tokens issued to sam: JupyterHub answers as if there were none
        ("GET", "/users/sam/tokens", None, 404, "No access to resources or resources not found"),
        # a token in sam's name
        (
            "POST",
            "/users/sam/tokens",
            {"note": "act as sam"},
            403,
            "User sam not found or no permissions to generate tokens",
        ),
        # write sam's auth_state (eligible roles)
        ("PATCH", "/users/sam", {"auth_state": {"eligible_roles": []}}, 403, scopes_needed("admin:users")),
        # rename oneself to take over a name and its S3 home
        ("PATCH", "/users/alex", {"name": "sam-renamed"}, 403, scopes_needed("admin:users")),
        # make oneself a JupyterHub admin
        ("PATCH", "/users/alex", {"admin": True}, 403, scopes_needed("admin:users")),
        # create accounts (bound to no Entra identity)
        ("POST", "/users", {"usernames": ["mallory"]}, 403, scopes_needed("admin:users")),
        # share sam's server with oneself
        ("POST", "/shares/sam/", {"user": "alex"}, 403, scopes_needed("shares")),
        # the proxy's routing
        ("POST", "/proxy", None, 403, scopes_needed("proxy")),
        # group members (from Entra ID): adding someone to platform-admins would make them a hub admin for a while
        ("POST", "/groups/platform-admins/users", {"users": ["sam"]}, 403, scopes_needed("groups")),
    ],
)
def test_admin_routes_to_another_persons_tokens_auth_state_or_server_are_refused(
    hub_with_admin_and_sam, method, path, body, status, message
):
    hub, _, token = hub_with_admin_and_sam
    tokens_before = hub.api_request("GET", "/users/sam/tokens").json()
    state_before = hub.user("sam")["auth_state"]
    response = as_alex(hub, token, method, path, json=body)
    assert (response.status_code, response.json()["message"]) == (status, message)
    assert hub.api_request("GET", "/users/sam/tokens").json() == tokens_before
    assert hub.user("sam")["auth_state"] == state_before
    assert hub.user("alex")["admin"] is False
    assert hub.api_request("GET", "/users/mallory").status_code == 404
    assert sorted(hub.user("sam")["groups"]) == ["analysts", "data-engineers"]


def test_an_admin_reads_people_without_their_auth_state(hub_with_admin_and_sam):
    hub, _, token = hub_with_admin_and_sam
    sam = as_alex(hub, token, "GET", "/users/sam").json()
    assert sam["name"] == "sam" and sam["servers"][""]["ready"] is True
    assert "auth_state" not in sam  # Entra access and refresh tokens, eligible roles: not for admins


def test_an_admins_token_cannot_reach_another_persons_server(hub_with_admin_and_sam):
    hub, _, token = hub_with_admin_and_sam
    response = requests.get(f"{hub.url}/user/sam/api/contents", headers={"Authorization": f"token {token}"}, timeout=30)
    assert response.status_code == 403
    own = requests.get(
        f"{hub.url}/user/sam/api/contents", headers={"Authorization": f"token {hub.server_token('sam')}"}, timeout=30
    )
    assert own.status_code == 200  # the route works: sam's own server token gets in


def test_an_admins_browser_cannot_open_another_persons_server(hub_with_admin_and_sam):
    """What the Admin page's "Access Server" does: the hub refuses to authorize alex for sam's server."""
    hub, alex, _ = hub_with_admin_and_sam
    log_before = len(hub.log())
    response = alex.get(f"{hub.url}/user/sam/lab", timeout=30)
    assert response.status_code == 403
    assert "You do not have permission to access Server at /user/sam/" in response.text
    assert "User <User(alex 0/1 running)> not allowed to access Server at /user/sam/" in hub.log()[log_before:]


def test_an_admin_still_runs_the_hub(hub_with_admin_and_sam):
    hub, alex, token = hub_with_admin_and_sam
    assert alex.get(f"{hub.url}/hub/admin", timeout=30).status_code == 200
    names = [u["name"] for u in as_alex(hub, token, "GET", "/users").json()]
    assert {"alex", "sam"} <= set(names)
    stopped = as_alex(hub, token, "DELETE", "/users/sam/server")
    assert stopped.status_code in (202, 204), stopped.text
    assert hub.wait_for_server("sam", 30) is None


# ---- a site that turns HubAdmins.may_open_peoples_servers on --------------------------------------------------------


@pytest.fixture(scope="module")
def hub_where_admins_open_servers(hub_moto, tmp_path_factory):
    hub = start_hub(
        tmp_path_factory.mktemp("admins-open-servers"), hub_moto, extra_env={"HUB_TEST_ADMINS_MAY_OPEN_SERVERS": "true"}
    )
    hub.add_people({"stub-root": person("platform-admins"), "stub-owner": person("analysts")})
    yield hub
    stop_hub(hub)


def authorize_for_server(hub, session, owner: str) -> requests.Response:
    """The hub's OAuth step of opening ``owner``'s server (what /user/<owner>/ redirects to), confirmed as a person
    confirms it on the hub's "Authorize access" page."""
    url = f"{hub.url}/hub/api/oauth2/authorize?" + urlencode(
        {
            "client_id": f"jupyterhub-user-{owner}",
            "redirect_uri": f"/user/{owner}/oauth_callback",
            "response_type": "code",
            "state": "test-state",
        }
    )
    page = session.get(url, allow_redirects=False, timeout=30)
    if page.status_code != 200:
        return page
    scopes = re.findall(r'<input type="hidden" name="scopes" value="([^"]+)"', page.text)
    return session.post(
        url,
        data={"_xsrf": session.cookies.get("_xsrf", path="/hub/"), "scopes": scopes},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=30,
    )


def logged(hub, text: str, since: int, timeout: float = 10) -> bool:
    """Whether ``text`` reaches the hub's log (after offset ``since``) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in hub.log()[since:]:
            return True
        time.sleep(0.1)
    return False


def test_with_the_switch_on_an_admin_may_open_a_server_and_the_hub_records_both_identities(
    hub_where_admins_open_servers,
):
    hub = hub_where_admins_open_servers
    owner, root = hub.login("stub-owner"), hub.login("stub-root")
    assert hub.spawn("stub-owner")["ready"]
    log_before = len(hub.log())
    granted = authorize_for_server(hub, root, "stub-owner")
    assert granted.status_code == 302, granted.text[:500]
    assert granted.headers["Location"].startswith("/user/stub-owner/oauth_callback?code=")
    audit = "Audit: stub-root was let into the server of stub-owner (Server at /user/stub-owner/) from 127.0.0.1"
    assert logged(hub, audit, log_before)  # written just after the answer
    # The owner opening their own server is not an event to audit.
    log_before = len(hub.log())
    assert authorize_for_server(hub, owner, "stub-owner").status_code == 302
    assert logged(hub, "/user/stub-owner/oauth_callback?code=[secret]&state=[secret] (stub-owner@", log_before)
    assert "Audit: stub-owner was let into" not in hub.log()
    hub.stop_server("stub-owner")


def test_with_the_switch_off_the_same_step_is_refused_and_nothing_is_recorded(jupyterhub):
    jupyterhub.add_people({"stub-root2": person("platform-admins"), "stub-owner2": person("analysts")})
    jupyterhub.login("stub-owner2")
    root = jupyterhub.login("stub-root2")
    assert jupyterhub.spawn("stub-owner2")["ready"]
    refused = authorize_for_server(jupyterhub, root, "stub-owner2")
    assert refused.status_code == 403
    assert "You do not have permission to access Server at /user/stub-owner2/" in refused.text
    assert "Audit: stub-root2 was let into" not in jupyterhub.log()
    jupyterhub.stop_server("stub-owner2")


def test_an_account_made_jupyterhub_admin_before_loses_it_when_the_hub_starts(hub_moto, tmp_path_factory):
    """An upgrade: the hub's database from before this change, where hub admins were JupyterHub admins."""
    state = tmp_path_factory.mktemp("admin-upgrade")
    hub = start_hub(state, hub_moto)
    try:
        assert hub.api_request("POST", "/users/stub-old-admin").status_code == 201
    finally:
        stop_hub(hub)
    with sqlite3.connect(state / "jupyterhub.sqlite") as db:  # as the previous version left it
        db.execute("UPDATE users SET admin = 1 WHERE name = 'stub-old-admin'")
    hub = start_hub(state, hub_moto)  # the same database
    try:
        assert hub.user("stub-old-admin")["admin"] is False
        assert "Removing admin=True from <User(stub-old-admin" in hub.log()
    finally:
        stop_hub(hub)
