"""AssumeRole parameters, STS error mapping and throttling retry, against literal values.

The retry tests run a real botocore STS client whose HTTP answers are given at botocore's ``before-send`` event, so
botocore's own retry handler (standard mode) decides. The answers follow the AssumeRole reference
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html) and the common error format
(https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html); which errors are retried and the backoff are
the SDKs' standard retry mode (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html,
https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
"""

import asyncio

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from authenticator.access_policy import load_access_policy
from hub.broker.errors import Refusal
from hub.broker.minting import (
    Grant,
    Minter,
    assume_role_request,
    refusal_for_sts_error,
    retry_attempts,
    sts_client_config,
)

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


@pytest.mark.parametrize(("budget", "attempts"), [(0, 1), (0.9, 1), (1, 2), (2, 2), (3, 3), (10, 4), (60, 7)])
def test_retry_attempts_fit_the_longest_backoff_into_the_budget(budget, attempts):
    assert retry_attempts(budget) == attempts


def test_sts_client_config():
    assert sts_client_config(10) == {
        "retries": {"mode": "standard", "total_max_attempts": 4},
        "connect_timeout": 5,
        "read_timeout": 10,
        "max_pool_connections": 50,
    }


SUCCESS_XML = (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
    "<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret-example</SecretAccessKey>"
    "<SessionToken>token-example</SessionToken><Expiration>2030-01-01T13:00:00Z</Expiration></Credentials>"
    "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/ana</Arn>"
    "<AssumedRoleId>AROAEXAMPLE:ana</AssumedRoleId></AssumedRoleUser><SourceIdentity>" + OID + "</SourceIdentity>"
    "</AssumeRoleResult><ResponseMetadata><RequestId>00000000-test</RequestId></ResponseMetadata>"
    "</AssumeRoleResponse>"
)
ERROR_XML = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-test</RequestId></ErrorResponse>"
)
ANSWERS = {
    "Throttling": (400, ERROR_XML.format(code="Throttling", message="Rate exceeded")),
    "AccessDenied": (403, ERROR_XML.format(code="AccessDenied", message="not authorized to perform sts:AssumeRole")),
    "ok": (200, SUCCESS_XML),
}


class Body:
    def __init__(self, payload: bytes):
        self.payload = payload

    def stream(self, **_):
        yield self.payload


def sts_answering(answers: list[str], budget: float):
    """A real botocore STS client (the broker's retry configuration) whose requests get ``answers`` in turn."""
    client = boto3.session.Session().client(
        "sts",
        region_name="us-east-1",
        endpoint_url="https://sts.example.test",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=Config(**sts_client_config(budget)),
    )
    sent = []

    def answer(request, **_):
        sent.append(request)
        status, body = ANSWERS[answers[min(len(sent), len(answers)) - 1]]
        return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, Body(body.encode()))

    client.meta.events.register("before-send.sts.AssumeRole", answer)
    return client, sent


def test_throttling_is_retried_by_the_sdk_then_succeeds():
    client, sent = sts_answering(["Throttling", "ok"], budget=1)
    credentials = asyncio.run(Minter(client, chained=False, clock=lambda: 1893499200.0).mint(grant()))
    assert len(sent) == 2
    assert credentials.credential_process_json() == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "secret-example",
        "SessionToken": "token-example",
        "Expiration": "2030-01-01T13:00:00Z",
    }
    assert credentials.lifetime_seconds == 3600
    assert "secret-example" not in repr(credentials) and "token-example" not in repr(credentials)


@pytest.mark.parametrize(("budget", "attempts"), [(0, 1), (2, 2)])
def test_throttling_gives_up_after_the_attempts_the_budget_allows(budget, attempts):
    client, sent = sts_answering(["Throttling"], budget)
    outcomes = []
    minter = Minter(client, chained=False, observe_sts=lambda outcome, seconds: outcomes.append(outcome))
    with pytest.raises(Refusal) as raised:
        asyncio.run(minter.mint(grant()))
    assert (raised.value.status, raised.value.reason, raised.value.message) == (
        503,
        "sts-throttled",
        f"AWS STS is throttling requests for role {ANALYST}; no credentials were issued. Try again in a minute.",
    )
    assert len(sent) == attempts and outcomes == ["Throttling"]


def test_access_denied_is_not_retried():
    client, sent = sts_answering(["AccessDenied", "ok"], budget=10)
    with pytest.raises(Refusal) as raised:
        asyncio.run(Minter(client, chained=False).mint(grant()))
    assert (raised.value.status, raised.value.reason) == (403, "role-not-assumable") and len(sent) == 1


class Unreachable:
    def __init__(self):
        self.calls = 0

    def assume_role(self, **kwargs):
        self.calls += 1
        raise EndpointConnectionError(endpoint_url="https://sts.amazonaws.com")


def test_unreachable_sts_is_a_503_naming_the_role():
    sts = Unreachable()
    with pytest.raises(Refusal) as raised:
        asyncio.run(Minter(sts, chained=False).mint(grant()))
    assert (raised.value.status, raised.value.reason, raised.value.message) == (
        503,
        "sts-unavailable",
        f"AWS STS could not be reached to issue credentials for role {ANALYST} (EndpointConnectionError). Try "
        "again in a minute; if it persists, tell your administrator.",
    )
    assert sts.calls == 1


def test_a_session_of_another_kind_has_its_name_and_extra_tags():
    from dataclasses import replace

    job = replace(grant(), session_name="ana-job-0a1b2c3d4e", extra_tags=(("job", "0a1b2c3d4e"),))
    request = assume_role_request(job, chained=False)
    assert request["RoleSessionName"] == "ana-job-0a1b2c3d4e"
    assert request["Tags"] == [
        {"Key": "user", "Value": "ana"},
        {"Key": "access-group", "Value": "analysts"},
        {"Key": "job", "Value": "0a1b2c3d4e"},
    ]
    assert request["TransitiveTagKeys"] == ["user", "access-group", "job"]
