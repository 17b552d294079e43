"""Minting: one ``sts:AssumeRole`` call per grant, with the person's identity, tags and session policy.

:func:`assume_role_request` (pure) builds the exact parameters; :func:`refusal_for_sts_error` (pure) maps an STS
error to a refusal naming the role and the likely cause; :func:`mint` makes the call, retrying throttling with
jittered exponential backoff inside a fixed time budget.
"""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authenticator.access_policy import AccessGroup

from . import errors
from .errors import Refusal

# AWS caps sessions of a role assumed with role credentials (role chaining) at one hour.
CHAINED_SESSION_CAP_SECONDS = 3600
# Session tags: who, and through which access group. Transitive, so that they survive role chaining.
TAG_USER = "user"
TAG_ACCESS_GROUP = "access-group"
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
)
TRANSIENT_CODES = frozenset({"InternalFailure", "InternalError", "ServiceUnavailable"})


@dataclass(frozen=True)
class Grant:
    """What one person gets: who (safe username, Entra object id), which access group, and the session policy."""

    username: str
    oid: str
    group: AccessGroup
    session_policy: str

    @property
    def role_arn(self) -> str:
        return self.group.role_arn


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials. ``repr`` never shows the secrets, so they cannot reach a log by accident."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime  # aware, UTC
    issued_at: float  # epoch seconds

    def __repr__(self) -> str:
        return f"Credentials(access_key_id=<redacted>, expiration={self.expiration.isoformat()})"

    @property
    def lifetime_seconds(self) -> float:
        return self.expiration.timestamp() - self.issued_at

    def credential_process_json(self) -> dict:
        """The ``credential_process`` answer (Version 1) the AWS SDKs read."""
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def session_duration(group: AccessGroup, chained: bool) -> int:
    """The group's session length, capped at one hour when the broker itself runs on role credentials."""
    if chained:
        return min(group.session_duration_seconds, CHAINED_SESSION_CAP_SECONDS)
    return group.session_duration_seconds


def assume_role_request(grant: Grant, chained: bool) -> dict:
    """The exact ``AssumeRole`` parameters for ``grant``."""
    return {
        "RoleArn": grant.role_arn,
        "RoleSessionName": grant.username,
        "SourceIdentity": grant.oid,
        "DurationSeconds": session_duration(grant.group, chained),
        "Policy": grant.session_policy,
        "Tags": [
            {"Key": TAG_USER, "Value": grant.username},
            {"Key": TAG_ACCESS_GROUP, "Value": grant.group.name},
        ],
        "TransitiveTagKeys": [TAG_USER, TAG_ACCESS_GROUP],
    }


def refusal_for_sts_error(code: str, message: str, role_arn: str) -> Refusal:
    """A refusal naming the role and the likely cause of an STS error (``message`` is AWS's, never a secret)."""
    if code in THROTTLING_CODES:
        return Refusal(
            503,
            errors.STS_THROTTLED,
            f"AWS STS is throttling requests for role {role_arn}; no credentials were issued. Try again in a minute.",
        )
    if code == "NoSuchEntity" or "cannot be found" in message or "does not exist" in message:
        return Refusal(
            502,
            errors.ROLE_MISSING,
            f"Role {role_arn} does not exist in AWS. An administrator must create it (terraform apply) or correct "
            "the access policy file.",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return Refusal(
            403,
            errors.ROLE_NOT_ASSUMABLE,
            f"The credential broker may not assume role {role_arn}: its trust policy does not allow the broker "
            "(with sts:SetSourceIdentity and sts:TagSession), or the role does not exist. An administrator must "
            "fix the role's trust policy (terraform apply).",
        )
    if code == "PackedPolicyTooLarge":
        return Refusal(
            502,
            errors.POLICY_TOO_LARGE,
            f"AWS refused the session for role {role_arn}: the session policy and tags are too large. An "
            "administrator must merge the access group's S3 prefixes in the access policy file.",
        )
    if code in ("RegionDisabledException", "ExpiredTokenException", "InvalidClientTokenId"):
        return Refusal(
            502,
            errors.STS_REJECTED,
            f"AWS STS refused the credential broker's own credentials ({code}) when assuming role {role_arn}. "
            "An administrator must check the broker's AWS identity and region.",
        )
    return Refusal(
        502,
        errors.STS_REJECTED,
        f"AWS STS refused to issue credentials for role {role_arn} ({code}: {message}). An administrator must "
        "check the role and the access policy file.",
    )


def backoff_delays(budget_seconds: float, base: float = 0.2, cap: float = 5.0, rng=random) -> list[float]:
    """Full-jitter exponential backoff delays whose sum stays within ``budget_seconds``."""
    delays, total, attempt = [], 0.0, 0
    while True:
        delay = rng.uniform(0, min(cap, base * 2**attempt))
        if total + delay > budget_seconds:
            return delays
        delays.append(delay)
        total += delay
        attempt += 1


class Minter:
    """Calls STS with a boto3 client (thread-safe), in a thread, so that the service stays responsive."""

    def __init__(
        self,
        client,
        *,
        chained: bool,
        retry_budget_seconds: float = 10.0,
        test_lifetime_seconds: float | None = None,
        observe_sts: Callable[[str, float], None] = lambda outcome, seconds: None,
        clock: Callable[[], float] = time.time,
        sleep=asyncio.sleep,
    ):
        self.client = client
        self.chained = chained
        self.retry_budget_seconds = retry_budget_seconds
        self.test_lifetime_seconds = test_lifetime_seconds
        self.observe_sts = observe_sts
        self.clock = clock
        self.sleep = sleep

    async def mint(self, grant: Grant) -> Credentials:
        from botocore.exceptions import BotoCoreError, ClientError

        request = assume_role_request(grant, self.chained)
        delays = iter(backoff_delays(self.retry_budget_seconds))
        while True:
            started = time.perf_counter()
            try:
                response = await asyncio.to_thread(self.client.assume_role, **request)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "Unknown")
                message = e.response.get("Error", {}).get("Message", "")
                self.observe_sts(code, time.perf_counter() - started)
                if code in THROTTLING_CODES or code in TRANSIENT_CODES:
                    delay = next(delays, None)
                    if delay is not None:
                        await self.sleep(delay)
                        continue
                raise refusal_for_sts_error(code, message, grant.role_arn) from None
            except BotoCoreError as e:
                self.observe_sts("unreachable", time.perf_counter() - started)
                raise Refusal(
                    503,
                    errors.STS_UNAVAILABLE,
                    f"AWS STS could not be reached to issue credentials for role {grant.role_arn} "
                    f"({type(e).__name__}). Try again in a minute; if it persists, tell your administrator.",
                ) from None
            self.observe_sts("ok", time.perf_counter() - started)
            return self._credentials(response["Credentials"])

    def _credentials(self, raw: dict) -> Credentials:
        now = self.clock()
        expiration = raw["Expiration"]
        if isinstance(expiration, str):
            expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
        expiration = expiration.astimezone(UTC)
        if self.test_lifetime_seconds:
            # Test-only: moto's shortest session is 900 s; this makes credentials look shorter-lived to clients.
            short = datetime.fromtimestamp(now, UTC) + timedelta(seconds=self.test_lifetime_seconds)
            expiration = min(expiration, short)
        return Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], expiration, now)
