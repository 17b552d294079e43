"""Refusals: every way the broker says no, as a status, a stable reason code and a message a person can act on.

The message is what the AWS SDK shows (the credential helper prints it on stderr, and botocore puts that in its
error), so it says what is wrong and what to do, and never carries a credential, a token or a session policy.
"""


class Refusal(Exception):
    """The broker refuses a request; ``status`` is the HTTP status, ``reason`` a short code for metrics and audit."""

    def __init__(self, status: int, reason: str, message: str, parameter: str | None = None):
        self.status, self.reason, self.message = status, reason, message
        self.parameter = parameter  # the request parameter refused, for the audit line
        self.user: str | None = None  # the token's owner, once the hub has said who that is (audit)
        super().__init__(message)

    def to_json(self) -> dict:
        return {"error": self.reason, "message": self.message}


# Reason codes (label values of the refusals metric).
NO_TOKEN = "no-token"  # noqa: S105 - a reason code, not a secret
INVALID_TOKEN = "invalid-token"  # noqa: S105
MISSING_SCOPE = "missing-scope"
NOT_A_SERVER_TOKEN = "not-a-server-token"  # noqa: S105
NOT_FOUND = "not-found"
METHOD_NOT_ALLOWED = "method-not-allowed"
NOT_A_PERSON = "not-a-person"
UNKNOWN_PARAMETER = "unknown-parameter"
NO_SERVER = "no-server"
NO_ROLE_CHOSEN = "no-role-chosen"
ROLE_NOT_ELIGIBLE = "role-not-eligible"
POLICY_TOO_LARGE = "session-policy-too-large"
STS_THROTTLED = "sts-throttled"
ROLE_NOT_ASSUMABLE = "role-not-assumable"
ROLE_MISSING = "role-missing"
STS_REJECTED = "sts-rejected"
STS_UNAVAILABLE = "sts-unavailable"
HUB_UNAVAILABLE = "hub-unavailable"
NOT_PURPOSE_ONLY = "not-purpose-only"
LAPTOP_TOKEN_WITHOUT_ROLE = "laptop-token-without-role"  # noqa: S105
LAPTOP_TOKEN_LIFETIME = "laptop-token-lifetime"  # noqa: S105
LAPTOP_ACCESS_OFF = "laptop-access-off"


def account_gone() -> Refusal:
    """The token's owner is no longer a hub user (deleted after the token was checked)."""
    return Refusal(403, INVALID_TOKEN, "Your hub account no longer exists. Sign in again.")
