"""The "What can I access?" page in a real JupyterHub: served by the broker behind the hub's OAuth.

People named ``stub-*`` get a stand-in server (fast); the spawn still goes through the broker's check, so the page
has real credentials in the cache to report on.
"""

import re
from html import unescape

import pytest
import requests

from tests.fixtures.jupyterhub import person

pytestmark = pytest.mark.integration

PAGE = "/services/aws-credentials/access"
ACCOUNT = "123456789012"


def page(hub, session: requests.Session, user: str | None = None) -> requests.Response:
    """The page as a browser gets it: through the hub's OAuth (no consent page) back to the page."""
    return session.get(f"{hub.url}{PAGE}", params={"user": user} if user else None, timeout=30)


def text(html: str) -> str:
    """The page's words, without tags, on one line."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture(scope="module")
def people(jupyterhub):
    hub = jupyterhub
    hub.add_people(
        {
            "stub-page-sam": person("analysts", "data-engineers"),
            "stub-page-ana": person("analysts"),
            "stub-page-alex": person("platform-admins"),
            "stub-page-idle": person("analysts"),
        }
    )
    sessions = {name: hub.login(name) for name in hub.people if name.startswith("stub-page-")}
    assert hub.spawn("stub-page-sam", {"aws_access_group": "data-engineers"})["ready"]
    assert hub.spawn("stub-page-ana")["ready"]
    yield sessions
    for name in ("stub-page-sam", "stub-page-ana"):
        hub.stop_server(name)


def test_a_person_sees_their_groups_roles_the_role_in_use_its_locations_and_expiry(jupyterhub, people):
    response = page(jupyterhub, people["stub-page-sam"])
    assert response.status_code == 200, response.text[:500]
    assert response.url == f"{jupyterhub.url}{PAGE}", "OAuth with the hub went straight back to the page"
    assert response.headers["Cache-Control"] == "no-store"
    html, words = response.text, text(response.text)
    assert '<strong id="server-role">Data Engineers</strong>' in html
    assert f"arn:aws:iam::{ACCOUNT}:role/jupyterhub-data-engineer" in words
    assert f"acts as arn:aws:sts::{ACCOUNT}:assumed-role/jupyterhub-data-engineer/stub-page-sam" in words
    assert "s3://demo-jupyter-notebooks/home/stub-page-sam/ read-write your own notebooks" in words
    assert "s3://demo-jupyter-notebooks/datasets/ read-write shared through Data Engineers" in words
    assert re.search(r"Current AWS credentials expire at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (59|60) minutes\)", words)
    # The why: both Entra groups, each with its role; the one in use marked.
    assert "Analysts 253daff1-76ee-47b8-9495-b4b707cbf668" in words
    assert "Data Engineers d088b0d7-c5c7-4091-a07c-643a7be0ab53" in words
    assert "Data Engineers in use by your server" in words
    assert "Analysts in use" not in words
    assert "See another person's access" not in words, "the admin look-up is for admins only"


def test_the_page_shows_no_secret(jupyterhub, people):
    hub = jupyterhub
    token = hub.server_token("stub-page-sam")
    issued = requests.get(
        f"{hub.broker_url()}v1/credentials", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()
    html = page(hub, people["stub-page-sam"]).text
    secrets = {
        "access key id": issued["AccessKeyId"],
        "secret key": issued["SecretAccessKey"],
        "session token": issued["SessionToken"],
        "server token": token,
        **{f"cookie {name}": value for name, value in people["stub-page-sam"].cookies.items() if len(value) > 8},
    }
    shown = [what for what, value in secrets.items() if value in html]
    assert shown == [], f"the page shows: {shown}"
    assert '"Statement"' not in html and "session policy" not in html.lower()


def test_a_person_without_a_running_server_sees_what_it_would_use(jupyterhub, people):
    words = text(page(jupyterhub, people["stub-page-idle"]).text)
    assert "Your server is not running. When it starts, it uses the role below. Start it from the home page." in words
    assert "Analysts 253daff1-76ee-47b8-9495-b4b707cbf668" in words


def test_a_person_cannot_see_someone_else(jupyterhub, people):
    response = page(jupyterhub, people["stub-page-ana"], user="stub-page-sam")
    assert response.status_code == 403
    words = text(response.text)
    assert "You can see only your own access. Hub admins can see anyone's." in words
    assert "jupyterhub-data-engineer" not in words and "home/stub-page-sam" not in words


def test_an_admin_sees_anyone_and_is_told_about_unknown_names(jupyterhub, people):
    own = text(page(jupyterhub, people["stub-page-alex"]).text)
    assert "See another person's access (hub admins)" in own
    assert "makes you a hub admin" in own
    response = page(jupyterhub, people["stub-page-alex"], user="stub-page-sam")
    assert response.status_code == 200
    words = text(response.text)
    assert "What can stub-page-sam access? You are seeing this as a hub admin." in words
    assert "stub-page-sam's server uses the role Data Engineers" in words
    missing = page(jupyterhub, people["stub-page-alex"], user="nobody-here")
    assert missing.status_code == 404
    assert "No one named 'nobody-here' has signed in to this hub." in text(missing.text)


def test_without_signing_in_the_hub_asks_for_sign_in(jupyterhub, people):
    response = requests.get(f"{jupyterhub.url}{PAGE}", timeout=30)
    assert response.status_code == 200 and "/hub/login" in response.url
    assert "Data Engineers" not in response.text
