"""The "What can I access?" page's pure parts: the data it shows (against the demo policy) and its HTML."""

import copy
import re
from datetime import UTC, datetime
from html import unescape

import pytest

from authenticator.access_policy import load_access_policy
from hub.broker.access_page import (
    access_view,
    assumed_role_arn,
    page_links,
    relative_text,
    render_access_page,
    render_message_page,
)
from hub.broker.minting import Credentials

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
OID = "0f5b9f8e-2a7c-4c1e-9d55-5b6a1c8e7f10"
ANALYST = {"access_group": "analysts", "display_name": "Analysts", "role_arn": POLICY.group("analysts").role_arn}
ENGINEER = {
    "access_group": "data-engineers",
    "display_name": "Data Engineers",
    "role_arn": POLICY.group("data-engineers").role_arn,
}
SAM = {
    "kind": "user",
    "name": "sam",
    "admin": False,
    "auth_state": {
        "entra": {"oid": OID, "groups_checked_at": NOW - 125},
        "user": {"name": "Sam Both", "preferred_username": "sam@contoso.example"},
        "eligible_roles": [ANALYST, ENGINEER],
        "access_token": "eyJ-the-entra-access-token",
        "refresh_token": "the-entra-refresh-token",
    },
    "servers": {"": {"ready": True, "user_options": {"aws_access_group": "data-engineers"}}},
}
CREDENTIALS = Credentials(
    access_key_id="ASIAEXAMPLEKEYID0001",
    secret_access_key="the-secret-access-key-never-shown",
    session_token="the-session-token-never-shown",
    expiration=datetime(2026, 3, 2, 9, 52, tzinfo=UTC),
    issued_at=NOW - 480,
)
LINKS = page_links("/hub/", "/services/aws-credentials/", "sam")


def model(**changes) -> dict:
    m = copy.deepcopy(SAM)
    m.update(changes)
    return m


def cached(grant):
    return CREDENTIALS


def nothing_cached(grant):
    return None


def words(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (3120, "in 52 minutes"),
        (59, "in less than a minute"),
        (60, "in 1 minute"),
        (7200, "in 2 hours"),
        (-125, "2 minutes ago"),
        (-30, "less than a minute ago"),
        (-90000, "1 day ago"),
    ],
)
def test_relative_time(seconds, expected):
    assert relative_text(seconds) == expected


@pytest.mark.parametrize(
    ("role_arn", "expected"),
    [
        (
            "arn:aws:iam::123456789012:role/jupyterhub-analyst",
            "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/sam",
        ),
        ("arn:aws-us-gov:iam::111122223333:role/team/x", "arn:aws-us-gov:sts::111122223333:assumed-role/x/sam"),
    ],
)
def test_the_identity_cloudtrail_shows(role_arn, expected):
    assert assumed_role_arn(role_arn, "sam") == expected


def test_the_view_of_a_person_with_two_roles_and_a_running_server():
    view = access_view(model(), POLICY, cached, NOW, viewer="sam")
    assert view["servers"] == [
        {
            "name": "",
            "label": "Your server",
            "ready": True,
            "access_group": "data-engineers",
            "problem": None,
            "role": {
                "display_name": "Data Engineers",
                "role_arn": "arn:aws:iam::123456789012:role/jupyterhub-data-engineer",
                "acting_as": "arn:aws:sts::123456789012:assumed-role/jupyterhub-data-engineer/sam",
                "session_duration_minutes": 60,
                "locations": [
                    {
                        "url": "s3://demo-jupyter-notebooks/home/sam/",
                        "access": "read-write",
                        "what": "your own notebooks",
                    },
                    {
                        "url": "s3://demo-jupyter-notebooks/datasets/",
                        "access": "read-write",
                        "what": "shared through Data Engineers",
                    },
                ],
                "credentials": {"utc": "2026-03-02 09:52 UTC", "relative": "in 52 minutes"},
            },
        }
    ]
    assert [(g["name"], g["entra_group_id"], g["in_use_by"]) for g in view["access_groups"]] == [
        ("analysts", "253daff1-76ee-47b8-9495-b4b707cbf668", None),
        ("data-engineers", "d088b0d7-c5c7-4091-a07c-643a7be0ab53", "Your server"),
    ]
    assert view["access_groups"][0]["locations"] == [
        {"url": "s3://demo-jupyter-notebooks/shared/analysts/", "access": "read-write"},
        {"url": "s3://demo-jupyter-notebooks/datasets/curated/", "access": "read"},
    ]
    assert view["home"] == [{"url": "s3://demo-jupyter-notebooks/home/sam/", "access": "read-write"}]
    assert (view["display_name"], view["sign_in_name"], view["entra_object_id"]) == (
        "Sam Both",
        "sam@contoso.example",
        OID,
    )
    assert view["membership_checked"] == {"utc": "2026-03-02 08:57 UTC", "relative": "2 minutes ago"}
    assert (view["own_page"], view["allowed"], view["admin"]) == (True, True, False)


def test_no_credentials_yet_no_server_and_a_stale_choice():
    assert access_view(model(), POLICY, nothing_cached, NOW, "sam")["servers"][0]["role"]["credentials"] is None
    assert access_view(model(servers={}), POLICY, cached, NOW, "sam")["servers"] == []
    stale = model()
    stale["auth_state"]["eligible_roles"] = [ANALYST]  # removed from Data Engineers while the server runs
    (server,) = access_view(stale, POLICY, cached, NOW, "sam")["servers"]
    assert server["role"] is None
    assert server["problem"].startswith(
        "You are no longer eligible for the role of access group 'data-engineers' this server was started with"
    )


def test_a_person_in_no_access_group_sees_which_groups_grant_access():
    view = access_view(model(servers={}, auth_state={"entra": {"oid": OID}}), POLICY, cached, NOW, "noah")
    assert view["allowed"] is False and view["access_groups"] == [] and view["home"] == []
    html = words(render_access_page({**view, "viewer_is_admin": False}, LINKS))
    assert "No AWS access. sam is in none of the Entra ID groups that grant it." in html
    assert "Platform Admins (Entra group 2a95bd00-d53d-4f76-87f4-0e8a179a4fd6)" in html


def test_the_page_shows_the_role_in_use_and_no_secret():
    view = access_view(model(), POLICY, cached, NOW, viewer="sam")
    html = render_access_page({**view, "viewer_is_admin": False}, LINKS)
    text = words(html)
    assert '<strong id="server-role">Data Engineers</strong>' in html
    assert "Current AWS credentials expire at 2026-03-02 09:52 UTC (in 52 minutes)." in text
    assert "Group membership last checked with Entra ID: 2 minutes ago (2026-03-02 08:57 UTC)." in text
    for secret in (
        CREDENTIALS.access_key_id,
        CREDENTIALS.secret_access_key,
        CREDENTIALS.session_token,
        SAM["auth_state"]["access_token"],
        SAM["auth_state"]["refresh_token"],
    ):
        assert secret not in html


def test_names_are_escaped():
    hostile = model()
    hostile["auth_state"]["user"]["name"] = "<script>alert(1)</script>"
    html = render_access_page({**access_view(hostile, POLICY, cached, NOW, "sam"), "viewer_is_admin": False}, LINKS)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    message = render_message_page("No such person", "No one named '<b>x</b>'", LINKS, 404)
    assert "<b>x</b>" not in message


def test_an_admin_viewing_someone_else():
    view = access_view(model(), POLICY, cached, NOW, viewer="alex")
    html = words(render_access_page({**view, "viewer_is_admin": True}, page_links("/hub/", "/s/", "alex")))
    assert "What can Sam Both access? You are seeing this as a hub admin." in html
    assert "sam's server uses the role Data Engineers" in html
    assert "s3://demo-jupyter-notebooks/home/sam/ read-write their own notebooks" in html
    assert "Data Engineers in use by sam's server" in html
    assert "See another person's access (hub admins):" in html


def test_ones_own_page_leads_to_the_laptop_page_and_an_admins_view_of_someone_else_does_not():
    own = render_access_page(
        {**access_view(model(), POLICY, cached, NOW, viewer="sam"), "viewer_is_admin": False}, LINKS
    )
    assert '<a href="/hub/aws-laptop">Use AWS from your laptop</a>' in own
    other = access_view(model(), POLICY, cached, NOW, viewer="alex")
    assert "aws-laptop" not in render_access_page({**other, "viewer_is_admin": True}, LINKS)
