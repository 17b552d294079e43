"""AssumeRole parameters, STS error mapping and throttling retry, against literal values."""

import asyncio
import random
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from authenticator.access_policy import load_access_policy
from hub.broker.errors import Refusal
from hub.broker.minting import Grant, Minter, assume_role_request, backoff_delays, refusal_for_sts_error

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
ANALYST = "arn:aws:iam::123456789012:role/jupyterhub-analyst"
OID = "0f5b9f8e-2a7c-4c1e-9d55-5b6a1c8e7f10"


def grant(duration=3600):
    group = POLICY.group("analysts")
    if duration != group.session_duration_seconds:
        from dataclasses import replace

        group = replace(group, session_duration_seconds=duration)
    return Grant(username="ana", oid=OID, group=group, session_policy='{"Version":"2012-10-17"}')


def test_assume_role_request():
    assert assume_role_request(grant(), chained=False) == {
        "RoleArn": ANALYST,
        "RoleSessionName": "ana",
        "SourceIdentity": OID,
        "DurationSeconds": 3600,
        "Policy": '{"Version":"2012-10-17"}',
        "Tags": [{"Key": "user", "Value": "ana"}, {"Key": "access-group", "Value": "analysts"}],
        "TransitiveTagKeys": ["user", "access-group"],
    }


@pytest.mark.parametrize(
    ("duration", "chained", "expected"),
    [(43200, False, 43200), (43200, True, 3600), (900, True, 900), (7200, False, 7200)],
)
def test_duration_is_capped_only_for_chained_sessions(duration, chained, expected):
    assert assume_role_request(grant(duration), chained)["DurationSeconds"] == expected


@pytest.mark.parametrize(
    ("code", "message", "status", "reason", "text"),
    [
        ("Throttling", "Rate exceeded", 503, "sts-throttled", "AWS STS is throttling requests for role " + ANALYST),
        ("NoSuchEntity", "", 502, "role-missing", f"Role {ANALYST} does not exist in AWS."),
        ("ValidationError", "The role cannot be found.", 502, "role-missing", f"Role {ANALYST} does not exist"),
        ("AccessDenied", "not authorized", 403, "role-not-assumable", "its trust policy does not allow the broker"),
        ("PackedPolicyTooLarge", "", 502, "session-policy-too-large", "the session policy and tags are too large"),
        ("ExpiredTokenException", "", 502, "sts-rejected", "refused the credential broker's own credentials"),
        ("Weird", "odd", 502, "sts-rejected", f"refused to issue credentials for role {ANALYST} (Weird: odd)"),
    ],
)
def test_sts_errors_name_the_role_and_the_cause(code, message, status, reason, text):
    refusal = refusal_for_sts_error(code, message, ANALYST)
    assert (refusal.status, refusal.reason) == (status, reason)
    assert text in refusal.message and ANALYST in refusal.message


def test_backoff_stays_within_budget():
    delays = backoff_delays(3.0, rng=random.Random(1))
    assert delays and sum(delays) <= 3.0
    assert backoff_delays(0.0, rng=random.Random(1)) == []


class FakeSts:
    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = []

    def assume_role(self, **kwargs):
        self.calls.append(kwargs)
        if self.errors:
            code = self.errors.pop(0)
            if code == "unreachable":
                raise EndpointConnectionError(endpoint_url="https://sts.amazonaws.com")
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "AssumeRole")
        return {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "secret-example",
                "SessionToken": "token-example",
                "Expiration": datetime(2030, 1, 1, 13, 0, tzinfo=UTC),
            }
        }


def minter(sts, budget=5.0, **kwargs):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    m = Minter(sts, chained=False, retry_budget_seconds=budget, sleep=sleep, clock=lambda: 1893499200.0, **kwargs)
    return m, slept


def test_throttling_is_retried_then_succeeds():
    sts = FakeSts(["Throttling", "ThrottlingException"])
    m, slept = minter(sts)
    credentials = asyncio.run(m.mint(grant()))
    assert len(sts.calls) == 3 and len(slept) == 2
    assert credentials.credential_process_json() == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "secret-example",
        "SessionToken": "token-example",
        "Expiration": "2030-01-01T13:00:00Z",
    }
    assert "secret-example" not in repr(credentials) and "token-example" not in repr(credentials)


def test_throttling_gives_up_within_the_budget():
    sts = FakeSts(["Throttling"] * 100)
    m, slept = minter(sts, budget=2.0)
    with pytest.raises(Refusal) as raised:
        asyncio.run(m.mint(grant()))
    assert raised.value.reason == "sts-throttled" and sum(slept) <= 2.0
    assert len(sts.calls) == len(slept) + 1


@pytest.mark.parametrize(
    ("code", "reason"), [("AccessDenied", "role-not-assumable"), ("unreachable", "sts-unavailable")]
)
def test_other_errors_are_not_retried(code, reason):
    sts = FakeSts([code])
    m, slept = minter(sts)
    with pytest.raises(Refusal) as raised:
        asyncio.run(m.mint(grant()))
    assert raised.value.reason == reason and len(sts.calls) == 1 and slept == []


def test_test_lifetime_shortens_the_served_expiry():
    m, _ = minter(FakeSts([]), test_lifetime_seconds=60)
    credentials = asyncio.run(m.mint(grant()))
    assert credentials.credential_process_json()["Expiration"] == "2030-01-01T12:01:00Z"
    assert credentials.lifetime_seconds == 60
