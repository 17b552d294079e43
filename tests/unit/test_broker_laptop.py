"""Laptop tokens at the broker: which kind a token is, which access group it is for, and every refusal's words."""

import copy
from pathlib import Path

import pytest
import yaml

from authenticator.access_policy import load_access_policy, parse_access_policy
from hub.broker.contract import ISSUE_SCOPE, JOB_SCOPE, LAPTOP_SCOPE, purpose_scope
from hub.broker.errors import Refusal
from hub.broker.grants import LAPTOP, SERVER, decide_grant, decide_laptop_grant, laptop_access_group, token_kind

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
OID = "0f5b9f8e-2a7c-4c1e-9d55-5b6a1c8e7f10"
ANALYST = {"access_group": "analysts", "display_name": "Analysts", "role_arn": POLICY.group("analysts").role_arn}
SAM = {
    "kind": "user",
    "name": "sam",
    "auth_state": {"entra": {"oid": OID}, "eligible_roles": [ANALYST]},
    "servers": {},
}
IDENTIFY = ["read:users:name!user=sam", "read:users:groups!user=sam"]
NEW_TOKEN = 'Create a new token on the hub\'s page "Use AWS from your laptop" (linked from the home page).'


def whoami(*scopes, kind="user"):
    return {"kind": kind, "name": "sam", "scopes": [*IDENTIFY, *scopes], "token_id": "a12"}


@pytest.mark.parametrize(
    ("scopes", "kind"),
    [
        ([f"{LAPTOP_SCOPE}!user=sam"], LAPTOP),  # made by the page: the laptop scope alone
        ([f"{ISSUE_SCOPE}!server=sam/"], SERVER),  # a server's own token
        # the hub's default personal token (its owner's permissions: both scopes): the server rule refuses it
        ([f"{LAPTOP_SCOPE}!user=sam", f"{ISSUE_SCOPE}!user=sam", "read:users!user=sam"], SERVER),
        ([f"{LAPTOP_SCOPE}!user=ana"], SERVER),  # someone else's scope: the server rule refuses it (missing scope)
        ([], SERVER),
    ],
)
def test_a_laptop_token_is_one_with_only_the_laptop_scope_for_its_owner(scopes, kind):
    assert token_kind(whoami(*scopes)) == kind


def test_a_service_is_never_a_laptop():
    assert token_kind(whoami(f"{LAPTOP_SCOPE}!user=sam", kind="service")) == SERVER


def test_a_token_with_the_laptop_scope_and_more_is_refused_as_not_for_this_purpose_only():
    with pytest.raises(Refusal) as refused:
        token_kind(whoami(f"{LAPTOP_SCOPE}!user=sam", "read:servers!user=sam"))
    assert (refused.value.status, refused.value.reason, refused.value.message) == (
        403,
        "not-purpose-only",
        "This token can do more than fetch AWS credentials for a laptop, so the broker does not serve it: a laptop's "
        f"token must be for that purpose only. {NEW_TOKEN}",
    )


@pytest.mark.parametrize(
    ("scopes", "purpose"),
    [
        ([f"{LAPTOP_SCOPE}!user"], LAPTOP_SCOPE),  # as the hub stores it
        ([f"{LAPTOP_SCOPE}!user=sam", *IDENTIFY], LAPTOP_SCOPE),  # as its API answers
        ([f"{JOB_SCOPE}!user=sam", *IDENTIFY], JOB_SCOPE),
        ([f"{LAPTOP_SCOPE}!user", f"{JOB_SCOPE}!user"], None),
        ([f"{LAPTOP_SCOPE}!user", "read:servers!user"], None),
        (["inherit"], None),
        ([f"{ISSUE_SCOPE}!server=sam/"], None),
        ([], None),
    ],
)
def test_the_purpose_of_a_token_without_an_entra_sign_in(scopes, purpose):
    assert purpose_scope(scopes) == purpose


def token(note="aws-laptop:analysts", created="2026-11-29T08:00:00.000000Z", expires="2026-12-06T08:00:00.000000Z"):
    return {"note": note, "created": created, "expires_at": expires}


def test_a_laptop_token_is_for_the_group_its_note_names_within_the_admins_maximum():
    assert laptop_access_group(token(), POLICY, max_days=7) == "analysts"


@pytest.mark.parametrize(
    ("model", "max_days", "reason", "message"),
    [
        (
            token(note="laptop"),
            30,
            "laptop-token-without-role",
            f"This laptop token does not say which AWS role it is for (its note must be 'aws-laptop:<access group>'). "
            f"{NEW_TOKEN}",
        ),
        (
            token(expires="2026-12-06T08:00:01Z"),
            7,
            "laptop-token-lifetime",
            "This laptop token is valid for 7 days, longer than the 7 days your administrator allows for a laptop "
            f"(CredentialBroker.laptop_token_max_days). {NEW_TOKEN}",
        ),
        (
            token(expires=None),
            30,
            "laptop-token-lifetime",
            "This laptop token never expires, longer than the 30 days your administrator allows for a laptop "
            f"(CredentialBroker.laptop_token_max_days). {NEW_TOKEN}",
        ),
        (
            token(note="aws-laptop:{x}"),
            30,
            "role-not-eligible",
            f"This laptop token is for the access group '{{x}}', which the access policy does not have (any more). "
            f"{NEW_TOKEN}",
        ),
    ],
)
def test_laptop_tokens_refused_before_any_hub_or_aws_call(model, max_days, reason, message):
    with pytest.raises(Refusal) as refused:
        laptop_access_group(model, POLICY, max_days=max_days)
    assert (refused.value.status, refused.value.reason, refused.value.message) == (403, reason, message)


def test_a_group_with_laptop_access_off_is_refused_with_where_it_is_decided():
    raw = yaml.safe_load(Path("hub/demo/access-policy.yaml").read_text())
    raw["access_groups"][0]["laptop_access"] = False
    policy = parse_access_policy(raw)
    with pytest.raises(Refusal) as refused:
        laptop_access_group(token(), policy, max_days=30)
    assert (refused.value.reason, refused.value.message) == (
        "laptop-access-off",
        "AWS access from a laptop is turned off for the role Analysts (access group 'analysts'): use it inside a "
        "notebook server on the hub. Your administrator decides this (laptop_access in the access policy).",
    )


def test_a_laptop_grant_is_the_servers_grant_in_a_session_that_says_laptop():
    grant = decide_laptop_grant(SAM, POLICY, "analysts")
    server = decide_grant({**SAM, "servers": {"": {"user_options": {"aws_access_group": "analysts"}}}}, POLICY)
    assert (grant.session_name, grant.extra_tags) == ("sam-laptop", ())
    assert (grant.role_arn, grant.oid, grant.session_policy) == (server.role_arn, server.oid, server.session_policy)


def test_a_laptop_grant_for_a_role_no_longer_eligible_is_refused_naming_the_roles_now():
    with pytest.raises(Refusal) as refused:
        decide_laptop_grant(SAM, POLICY, "data-engineers")
    assert (refused.value.reason, refused.value.message) == (
        "role-not-eligible",
        "You are not eligible (any more) for the role of access group 'data-engineers' this laptop token is for "
        f"(your roles now: Analysts). {NEW_TOKEN}",
    )
    nobody = copy.deepcopy(SAM)
    nobody["auth_state"]["eligible_roles"] = []
    with pytest.raises(Refusal) as refused:
        decide_laptop_grant(nobody, POLICY, "analysts")
    assert refused.value.message == (
        "You are not in any Entra ID group that grants an AWS role any more. Ask to be added to one, then sign in "
        "again."
    )
