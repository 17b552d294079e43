"""Minting: one ``sts:AssumeRole`` call per grant, with the person's identity, tags and session policy.

:func:`assume_role_request` (pure) builds the exact parameters; :func:`refusal_for_sts_error` (pure) maps an STS
error to a refusal naming the role and the likely cause; :class:`Minter` makes the call with a client that retries
throttling and transient errors itself (botocore's standard retry mode, :func:`sts_client_config`) within a fixed
time budget.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

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


@dataclass(frozen=True)
class Grant:
    """What one person gets: who (safe username, Entra object id), which access group, the session policy, and
    what the session is called in AWS (the username for a server; other kinds say what they are, e.g.
    ``sam-laptop``) with any session tags beyond ``user`` and ``access-group``."""

    username: str
    oid: str
    group: AccessGroup
    session_policy: str
    session_name: str = ""
    extra_tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not self.session_name:
            object.__setattr__(self, "session_name", self.username)

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
    tags = [(TAG_USER, grant.username), (TAG_ACCESS_GROUP, grant.group.name), *grant.extra_tags]
    return {
        "RoleArn": grant.role_arn,
        "RoleSessionName": grant.session_name,
        "SourceIdentity": grant.oid,
        "DurationSeconds": session_duration(grant.group, chained),
        "Policy": grant.session_policy,
        "Tags": [{"Key": key, "Value": value} for key, value in tags],
        "TransitiveTagKeys": [key for key, _ in tags],
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


def retry_attempts(budget_seconds: float) -> int:
    """How many attempts botocore's standard retry mode may make so that its longest possible wait between them
    (full jitter over 1, 2, 4, ... seconds, at most 20 each) stays within ``budget_seconds``."""
    attempts, worst = 1, 0.0
    while worst + min(2 ** (attempts - 1), 20) <= budget_seconds:
        worst += min(2 ** (attempts - 1), 20)
        attempts += 1
    return attempts


# ref: https://docs.aws.amazon.com/boto3/latest/guide/retries.html (standard mode: which errors, backoff capped at 20 s)
def sts_client_config(retry_budget_seconds: float) -> dict:
    """botocore ``Config`` arguments of the broker's STS client: the SDK's standard retry mode (throttling and
    transient errors, with its client-wide retry quota) bounded by the time budget, and bounded single calls."""
    return {
        "retries": {"mode": "standard", "total_max_attempts": retry_attempts(retry_budget_seconds)},
        "connect_timeout": 5,
        "read_timeout": 10,
        "max_pool_connections": 50,
    }


class Minter:
    """Calls STS with a boto3 client (thread-safe; it retries by itself), in a thread, so that the service stays
    responsive."""

    def __init__(
        self,
        client,
        *,
        chained: bool,
        observe_sts: Callable[[str, float], None] = lambda outcome, seconds: None,
        clock: Callable[[], float] = time.time,
    ):
        self.client = client
        self.chained = chained
        self.observe_sts = observe_sts
        self.clock = clock

    async def mint(self, grant: Grant) -> Credentials:
        from botocore.exceptions import BotoCoreError, ClientError

        started = time.perf_counter()
        try:
            response = await asyncio.to_thread(self.client.assume_role, **assume_role_request(grant, self.chained))
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "Unknown")
            self.observe_sts(code, time.perf_counter() - started)
            raise refusal_for_sts_error(code, e.response.get("Error", {}).get("Message", ""), grant.role_arn) from None
        except BotoCoreError as e:
            self.observe_sts("unreachable", time.perf_counter() - started)
            raise Refusal(
                503,
                errors.STS_UNAVAILABLE,
                f"AWS STS could not be reached to issue credentials for role {grant.role_arn} "
                f"({type(e).__name__}). Try again in a minute; if it persists, tell your administrator.",
            ) from None
        self.observe_sts("ok", time.perf_counter() - started)
        return self.credentials(response["Credentials"])

    def credentials(self, raw: dict) -> Credentials:
        """The ``Credentials`` of an AssumeRole answer, issued now."""
        expiration = raw["Expiration"]
        if isinstance(expiration, str):
            expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
        return Credentials(
            raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], expiration.astimezone(UTC), self.clock()
        )
