"""The STS session policy that narrows a role to one person: their own notebook prefix plus their group's locations.

A session policy can only take permissions away from the role, never add them: the credentials get the intersection
of the role's policies (Terraform, from the same access policy file) and this document. The role grants its access
group's locations and the whole home prefix; the session policy narrows that home prefix to ``home/<safe-username>/``.

Pure functions, no I/O: :func:`build_session_policy` returns the document, :func:`packed_session_policy` the exact text
sent to STS, refusing with :class:`SessionPolicyTooLarge` when it is over STS's 2048-character limit (AWS measures the
packed, whitespace-free form), before any call is made.

Layout of the document, one statement per purpose so that reviewers (and CloudTrail readers) can follow it:

- ``List<n>``: ``s3:ListBucket`` on each bucket, only for keys under the allowed prefixes (``s3:prefix`` condition);
- ``ReadWrite``: read, write, delete and multipart upload on objects under the read-write prefixes;
- ``Read``: read objects under the read-only prefixes;
- ``NotS3``: everything except S3 passes through unchanged (whatever else the role grants, such as Athena or Glue,
  still works; S3 is what this policy narrows).
"""

import json
from collections.abc import Iterable

from authenticator.access_policy import S3Location

# STS's limit on the plaintext session policy (AssumeRole's Policy parameter).
MAX_PACKED_SESSION_POLICY_CHARS = 2048

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
READ_WRITE_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)


class SessionPolicyTooLarge(ValueError):
    """The packed session policy is over STS's limit; the message names the person, the role, the size and the fix."""

    def __init__(self, username: str, role_arn: str, size: int):
        self.username, self.role_arn, self.size = username, role_arn, size
        super().__init__(
            f"The session policy for {username} on role {role_arn} is {size} characters, over STS's "
            f"{MAX_PACKED_SESSION_POLICY_CHARS}-character limit: the access group lists too many S3 locations. "
            "Fix: merge the group's prefixes in the access policy file (a common parent prefix covers them all)."
        )


def _merge(locations: Iterable[S3Location]) -> list[S3Location]:
    """Drop duplicates and locations covered by another one (same bucket, a parent prefix with at least that access).

    Keeps the first-seen order, so the document is stable for a given access policy.
    """
    locations = list(dict.fromkeys(locations))
    kept = []
    for loc in locations:
        covered = any(
            other is not loc
            and other.bucket == loc.bucket
            and loc.prefix.startswith(other.prefix)
            and (other.writable or not loc.writable)
            and (other.prefix != loc.prefix or other.writable != loc.writable)
            for other in locations
        )
        if not covered:
            kept.append(loc)
    return kept


def build_session_policy(home: S3Location, locations: Iterable[S3Location], partition: str = "aws") -> dict:
    """The session policy document for a person's own ``home`` location plus their access group's ``locations``."""
    merged = _merge([home, *locations])
    s3 = f"arn:{partition}:s3:::"
    statements = []
    buckets = list(dict.fromkeys(loc.bucket for loc in merged))
    for index, bucket in enumerate(buckets, start=1):
        prefixes = [f"{loc.prefix}*" for loc in merged if loc.bucket == bucket]
        statements.append(
            {
                "Sid": f"List{index}",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"{s3}{bucket}",
                "Condition": {"StringLike": {"s3:prefix": prefixes}},
            }
        )
    for sid, actions, writable in (("ReadWrite", READ_WRITE_ACTIONS, True), ("Read", READ_ACTIONS, False)):
        resources = [f"{s3}{loc.bucket}/{loc.prefix}*" for loc in merged if loc.writable == writable]
        if resources:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources})
    statements.append({"Sid": "NotS3", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def pack(document: dict) -> str:
    """The packed (whitespace-free) JSON text, the form STS measures and the form the broker sends."""
    return json.dumps(document, separators=(",", ":"))


def packed_session_policy(
    username: str, role_arn: str, home: S3Location, locations: Iterable[S3Location], partition: str = "aws"
) -> str:
    """The packed session policy text, or :class:`SessionPolicyTooLarge` when STS would refuse it."""
    text = pack(build_session_policy(home, locations, partition))
    if len(text) > MAX_PACKED_SESSION_POLICY_CHARS:
        raise SessionPolicyTooLarge(username, role_arn, len(text))
    return text
