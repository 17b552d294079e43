"""Who may have what: decisions from the hub's answers, against the demo policy."""

import copy

import pytest

from authenticator.access_policy import load_access_policy
from hub.broker.contract import ISSUE_SCOPE
from hub.broker.errors import Refusal
from hub.broker.grants import decide_grant, has_scope, identify

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
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
    "auth_state": {"entra": {"oid": OID}, "eligible_roles": [ANALYST, ENGINEER]},
    "servers": {"": {"stopped": False, "user_options": {"aws_access_group": "data-engineers"}}},
}


def model(**changes):
    m = copy.deepcopy(SAM)
    m.update(changes)
    return m


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([ISSUE_SCOPE], True),
        ([f"{ISSUE_SCOPE}!user=sam"], True),
        ([f"{ISSUE_SCOPE}!server=sam/"], True),
        ([f"{ISSUE_SCOPE}!user=ana"], False),
        ([f"{ISSUE_SCOPE}!server=ana/"], False),
        (["read:users", "admin:users", "admin:servers"], False),
        ([], False),
    ],
)
def test_scope(scopes, allowed):
    assert has_scope(scopes, ISSUE_SCOPE, "sam", "") is allowed


def test_identify_refuses_services_and_tokens_without_the_scope():
    assert identify({"kind": "user", "name": "sam", "scopes": [f"{ISSUE_SCOPE}!user=sam"]}) == "sam"
    with pytest.raises(Refusal) as raised:
        identify({"kind": "service", "name": "aws-credentials", "scopes": [ISSUE_SCOPE]})
    assert raised.value.reason == "not-a-person"
    with pytest.raises(Refusal) as raised:
        identify({"kind": "user", "name": "olga", "scopes": ["admin:users", "admin:servers", "admin:auth_state"]})
    assert (raised.value.status, raised.value.reason) == (403, "missing-scope")
    assert raised.value.message == (
        "This token lacks the 'custom:aws-credentials:issue' scope: only a notebook server's own token "
        "(JUPYTERHUB_API_TOKEN) may obtain AWS credentials."
    )


def test_grant_for_the_chosen_role():
    grant = decide_grant(SAM, POLICY)
    assert (grant.username, grant.oid, grant.group.name) == ("sam", OID, "data-engineers")
    assert '"arn:aws:s3:::demo-jupyter-notebooks/home/sam/*"' in grant.session_policy


def test_single_role_needs_no_choice():
    m = model(auth_state={"entra": {"oid": OID}, "eligible_roles": [ANALYST]})
    m["servers"][""]["user_options"] = {}
    assert decide_grant(m, POLICY).group.name == "analysts"


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        (
            lambda m: m["servers"].clear(),
            "no-server",
            "Your default server is not running, so no credentials are issued for it. Start it from the hub's home "
            "page.",
        ),
        (
            lambda m: m["servers"][""]["user_options"].clear(),
            "no-role-chosen",
            "This server was started without choosing an AWS role, and you have several. Stop the server and start "
            "it again, choosing a role.",
        ),
        (
            lambda m: m["auth_state"].update(eligible_roles=[ANALYST]),
            "role-not-eligible",
            "You are no longer eligible for the role of access group 'data-engineers' this server was started with "
            "(your roles now: Analysts). Stop the server and start it again with one of them.",
        ),
        (
            lambda m: m["servers"][""]["user_options"].update(aws_access_group="platform-admins"),
            "role-not-eligible",
            "You are no longer eligible for the role of access group 'platform-admins' this server was started with "
            "(your roles now: Analysts, Data Engineers). Stop the server and start it again with one of them.",
        ),
        (
            lambda m: m["auth_state"].update(eligible_roles=[]),
            "role-not-eligible",
            "You are not in any Entra ID group that grants an AWS role any more. Ask to be added to one, then sign "
            "in again.",
        ),
        (
            lambda m: m["auth_state"]["eligible_roles"][1].update(role_arn="arn:aws:iam::123456789012:role/other"),
            "role-not-eligible",
            None,
        ),
    ],
)
def test_refusals(change, reason, message):
    m = model()
    change(m)
    with pytest.raises(Refusal) as raised:
        decide_grant(m, POLICY)
    assert (raised.value.status, raised.value.reason) == (403, reason)
    if message:
        assert raised.value.message == message
