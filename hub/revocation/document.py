"""The revocations policy: a pure function from who is (or was lately) revoked to the exact IAM policy document.

AWS cannot recall STS credentials; it can deny them. Every session the broker mints carries the person's Entra object
id as its SourceIdentity, so one customer-managed policy attached to every access role denies exactly one person's
sessions issued before a time (``aws:SourceIdentity`` and ``aws:TokenIssueTime``), the per-person form of the
console's "Revoke active sessions".

ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html (deny by aws:TokenIssueTime)
ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceidentity
ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-tokenissuetime

The rule, which keeps the document small:

- People revoked now share one statement, ``Revoked``: their sessions issued before the moment the document is built
  are denied. The hub gives them no session while they are revoked, so a later time denies nothing more than their
  own revocation time would, and it also catches a session STS was still minting when the revocation was recorded.
- An unrevoked person keeps a statement of their own, ``Unrevoked<time>``, denying their sessions issued before the
  unrevoke (their new sessions must work, so they cannot share the latest time).
- An entry is dropped once every session issued before its time has expired: a role session lasts at most
  ``MAX_SESSION_SECONDS`` (12 hours), plus ``CLOCK_MARGIN_SECONDS``. From then on the hub's own refusal is enough.
- With nobody to deny, the one statement ``NobodyRevoked`` denies every action except all of them: nothing. (A
  policy needs a statement; a conditional one would do too on AWS, but moto, which ignores conditions, would deny
  everything with it.)

The size is checked against IAM's limit for a managed policy before any call (:func:`checked_policy_text`).
"""

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from authenticator.access_policy import MAX_SESSION_SECONDS

VERSION = "2012-10-17"
# IAM counts a managed policy's characters without whitespace; at most 6,144.
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (IAM and AWS STS character limits)
MANAGED_POLICY_MAX_CHARACTERS = 6144
# Clocks of the hub, STS and the policy engine may differ a little; entries are kept this much longer.
CLOCK_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class Entry:
    """One person to deny: their Entra object id, and since when (``revoked_at``) or until when (``lifted_at``)."""

    oid: str
    revoked_at: float
    lifted_at: float | None = None  # None: revoked now


class RevocationPolicyTooLarge(Exception):
    """The document would exceed IAM's managed policy size; the message says how many are in it and what to do."""

    def __init__(self, size: int, revoked: int, unrevoked: int, first_expiry: float):
        self.size = size
        hours = MAX_SESSION_SECONDS // 3600
        super().__init__(
            f"The revocations policy would be {size:,} characters, over IAM's limit of "
            f"{MANAGED_POLICY_MAX_CHARACTERS:,} for a managed policy (whitespace not counted): {revoked} people "
            f"revoked and {unrevoked} unrevoked in the last {hours} hours, each denied until every session issued "
            "before their entry has expired. The hub refuses every revoked person already, but AWS still honours "
            "the credentials they hold until those expire. Room is made as entries expire: the oldest can be "
            f"dropped from {iso_time(first_expiry)}; repeat the command then (it rewrites the policy)."
        )


def iso_time(epoch: float) -> str:
    """``aws:TokenIssueTime``'s format (ISO 8601, UTC, whole seconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deny_before(epoch: float) -> str:
    """The whole second at or after ``epoch``: a session issued within the same second is still denied."""
    return iso_time(math.ceil(epoch))


def expires_at(entry: Entry) -> float:
    """When every session issued before the entry's time has expired, so the entry can go."""
    return (entry.lifted_at or entry.revoked_at) + MAX_SESSION_SECONDS + CLOCK_MARGIN_SECONDS


def _deny(sid: str, oids: list[str], before: str) -> dict:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceIdentity": oids if len(oids) > 1 else oids[0]},
            "DateLessThan": {"aws:TokenIssueTime": before},
        },
    }


def in_force(entries: Iterable[Entry], now: float) -> list[Entry]:
    """The entries still needed at ``now``; a person revoked now is never also listed as unrevoked."""
    kept = [e for e in entries if expires_at(e) > now]
    revoked_now = {e.oid for e in kept if e.lifted_at is None}
    return [e for e in kept if e.lifted_at is None or e.oid not in revoked_now]


def revocations_policy(entries: Iterable[Entry], now: float) -> dict:
    """The exact policy document for ``entries`` at ``now``."""
    kept = in_force(entries, now)
    revoked = sorted({e.oid for e in kept if e.lifted_at is None})
    unrevoked: dict[str, set[str]] = {}
    for e in kept:
        if e.lifted_at is not None:
            unrevoked.setdefault(deny_before(e.lifted_at), set()).add(e.oid)
    statements = [_deny("Revoked", revoked, deny_before(now))] if revoked else []
    for before in sorted(unrevoked):
        sid = "Unrevoked" + before.replace("-", "").replace(":", "").rstrip("Z")
        statements.append(_deny(sid, sorted(unrevoked[before]), before))
    if not statements:
        # ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html (NotAction: "*")
        statements = [{"Sid": "NobodyRevoked", "Effect": "Deny", "NotAction": "*", "Resource": "*"}]
    return {"Version": VERSION, "Statement": statements}


def policy_text(document: dict) -> str:
    """The document as sent to IAM: compact JSON."""
    return json.dumps(document, separators=(",", ":"))


def policy_size(text: str) -> int:
    """The size IAM counts: characters other than whitespace."""
    return sum(1 for ch in text if not ch.isspace())


def checked_policy_text(entries: Iterable[Entry], now: float) -> str:
    """The document's text, or :class:`RevocationPolicyTooLarge` before anything is sent to AWS."""
    entries = list(entries)
    text = policy_text(revocations_policy(entries, now))
    size = policy_size(text)
    if size > MANAGED_POLICY_MAX_CHARACTERS:
        kept = in_force(entries, now)
        first = min(expires_at(e) for e in kept)
        raise RevocationPolicyTooLarge(
            size, sum(e.lifted_at is None for e in kept), sum(e.lifted_at is not None for e in kept), first
        )
    return text


def denied_oids(document: dict) -> set[str]:
    """The object ids a stored revocations policy denies (to tell whether AWS is in step with the hub)."""
    oids: set[str] = set()
    for statement in document.get("Statement", []):
        value = statement.get("Condition", {}).get("StringEquals", {}).get("aws:SourceIdentity", [])
        oids.update([value] if isinstance(value, str) else value)
    return oids
