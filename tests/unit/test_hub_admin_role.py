"""The hub-admin role: what hub admins may do, as a literal (issue 11, section 1)."""

from pathlib import Path

import pytest

from authenticator.access_policy import load_access_policy
from hub.admin_role import hub_admin_roles, is_hub_admin

pytestmark = pytest.mark.unit

DEMO_POLICY = Path(__file__).resolve().parents[2] / "hub" / "demo" / "access-policy.yaml"
RUN_THE_HUB = [
    "admin-ui",
    "users",
    "delete:users",
    "read:roles",
    "admin:servers",
    "list:groups",
    "read:groups",
    "admin:services",
    "access:services",
    "read:hub",
    "read:metrics",
    "read:shares",
    "shutdown",
]


def test_by_default_hub_admins_run_the_hub_and_nobody_holds_jupyterhubs_admin_role():
    assert hub_admin_roles(False, ["platform-admins", "ops"]) == [
        {
            "name": "hub-admin",
            "description": "Run the hub: people's accounts and servers, groups, services; never act as another person",
            "scopes": RUN_THE_HUB,
            "groups": ["ops", "platform-admins"],
        },
        {"name": "admin", "users": [], "groups": []},
    ]


def test_the_explicit_switch_adds_opening_peoples_servers_and_nothing_else():
    role = hub_admin_roles(True, ["platform-admins"])[0]
    assert role["scopes"] == [*RUN_THE_HUB, "access:servers"]


@pytest.mark.parametrize(
    ("groups", "admin"),
    [(["platform-admins"], True), (["analysts", "platform-admins"], True), (["analysts"], False), ([], False)],
)
def test_a_hub_admin_is_a_member_of_a_hub_admin_access_group(groups, admin):
    assert is_hub_admin({"name": "x", "admin": False, "groups": groups}, load_access_policy(DEMO_POLICY)) is admin
