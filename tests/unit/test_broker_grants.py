"""Who may have what: decisions from the hub's answers, against the demo policy."""

import copy

import pytest

from authenticator.access_policy import load_access_policy
from hub.broker.contract import ISSUE_SCOPE
from hub.broker.errors import Refusal
from hub.broker.grants import decide_grant, decide_grant_for, identify, session_name

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


NOT_A_SERVER_TOKEN = (
    "This token is not this notebook server's own token (a personal token from the hub's token page, or another "
    "server's): only a running server's own JUPYTERHUB_API_TOKEN obtains AWS credentials, for that server."
)
MISSING_SCOPE = (
    "This token lacks the 'custom:aws-credentials:issue' scope: only a notebook server's own token "
    "(JUPYTERHUB_API_TOKEN) may obtain AWS credentials."
)


@pytest.mark.parametrize(
    ("scopes", "server_name", "refusal"),
    [
        ([f"{ISSUE_SCOPE}!server=sam/"], "", None),  # the default server's own token
        ([f"{ISSUE_SCOPE}!server=sam/gpu"], "gpu", None),  # a named server's own token
        # a personal token (token page, API): it inherits the person's own scope, and gets nothing
        ([f"{ISSUE_SCOPE}!user=sam", "read:users!user=sam"], "", ("not-a-server-token", NOT_A_SERVER_TOKEN)),
        # one server's token asking for another of the same person's servers
        ([f"{ISSUE_SCOPE}!server=sam/gpu"], "", ("not-a-server-token", NOT_A_SERVER_TOKEN)),
        ([f"{ISSUE_SCOPE}!server=sam/"], "gpu", ("not-a-server-token", NOT_A_SERVER_TOKEN)),
        # someone else's scope, an unfiltered one, admin scopes, none
        ([f"{ISSUE_SCOPE}!server=ana/"], "", ("missing-scope", MISSING_SCOPE)),
        ([f"{ISSUE_SCOPE}!user=ana"], "", ("missing-scope", MISSING_SCOPE)),
        ([ISSUE_SCOPE], "", ("missing-scope", MISSING_SCOPE)),
        (["admin:users", "admin:servers", "admin:auth_state"], "", ("missing-scope", MISSING_SCOPE)),
        ([], "", ("missing-scope", MISSING_SCOPE)),
    ],
)
def test_only_a_servers_own_token_is_identified(scopes, server_name, refusal):
    whoami = {"kind": "user", "name": "sam", "scopes": scopes}
    if refusal is None:
        assert identify(whoami, server_name=server_name) == "sam"
        return
    with pytest.raises(Refusal) as raised:
        identify(whoami, server_name=server_name)
    assert (raised.value.status, raised.value.reason, raised.value.message) == (403, *refusal)


def test_identify_refuses_services():
    with pytest.raises(Refusal) as raised:
        identify({"kind": "service", "name": "aws-credentials", "scopes": [ISSUE_SCOPE]})
    assert raised.value.reason == "not-a-person"


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


@pytest.mark.parametrize(
    ("username", "suffix", "expected"),
    [
        ("sam", "", "sam"),
        ("sam", "laptop", "sam-laptop"),
        ("a" * 48, "job-0a1b2c3d4e", "a" * 48 + "-job-0a1b2c3d4e"),  # the longest safe name fits as it is
        # a suffix that would pass STS's 64 shortens the username part (the tag `user` keeps the whole name)
        ("a" * 48, "job-0123456789abcdef", "a" * 43 + "-job-0123456789abcdef"),
    ],
)
def test_session_names_say_what_kind_of_session_and_fit_sts(username, suffix, expected):
    assert session_name(username, suffix) == expected
    assert len(expected) <= 64


def test_a_grant_for_an_access_group_rechecks_eligibility_and_narrows_as_for_a_server():
    grant = decide_grant_for(
        SAM, POLICY, "analysts", not_eligible="no: {roles}", session_suffix="laptop", extra_tags=(("k", "v"),)
    )
    assert (grant.username, grant.session_name, grant.group.name, grant.extra_tags) == (
        "sam",
        "sam-laptop",
        "analysts",
        (("k", "v"),),
    )
    server = decide_grant(
        model(servers={"": {"stopped": False, "user_options": {"aws_access_group": "analysts"}}}), POLICY
    )
    assert (grant.session_policy, grant.oid) == (server.session_policy, server.oid)
    assert server.session_name == "sam"
    with pytest.raises(Refusal) as refused:
        decide_grant_for(SAM, POLICY, "platform-admins", not_eligible="no: {roles}")
    assert (refused.value.reason, refused.value.message) == ("role-not-eligible", "no: Analysts, Data Engineers")


def test_a_refused_method_is_told_the_methods_its_endpoint_answers():
    from hub.broker.service import CredentialsHandler, answered_methods
    from hub.jobs.scheduler_api import SchedulerFinishHandler, SchedulerJobsHandler

    assert answered_methods(CredentialsHandler) == "GET"
    assert answered_methods(SchedulerJobsHandler) == "GET"
    assert answered_methods(SchedulerFinishHandler) == "POST"
