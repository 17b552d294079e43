"""The revocations IAM policy: a pure function of who is (or was lately) revoked, asserted against literal JSON.

The size limit is IAM's for a managed policy: 6,144 characters, whitespace not counted
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). The conditions are the global keys
aws:SourceIdentity and aws:TokenIssueTime
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html), used as AWS's own
"revoke active sessions" uses the latter (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
"""

import json
import uuid
from datetime import UTC, datetime

import pytest

from hub.revocation.document import (
    Entry,
    RevocationPolicyTooLarge,
    checked_policy_text,
    denied_oids,
    policy_size,
    revocations_policy,
)

pytestmark = pytest.mark.unit

ANA = "0b7a9a52-6f0e-4a8e-9d4c-1b2f3c4d5e6f"
SAM = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
OLGA = "f0e1d2c3-b4a5-4968-8776-655443322110"
T = datetime(2026, 11, 29, 7, 30, 0, tzinfo=UTC).timestamp()  # "now" in these tests
HOUR = 3600


def test_nobody_revoked_denies_nothing():
    assert revocations_policy([], T) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NobodyRevoked",
                "Effect": "Deny",
                "NotAction": "*",  # every action but all of them: none
                "Resource": "*",
            }
        ],
    }


def test_one_revoked_person_their_sessions_issued_before_now_are_denied():
    assert revocations_policy([Entry(ANA, T - 10)], T + 0.4) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Revoked",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceIdentity": ANA},
                    # rounded up: a session issued within the same second is denied too
                    "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T07:30:01Z"},
                },
            }
        ],
    }


def test_people_revoked_now_share_one_statement_with_the_latest_time():
    document = revocations_policy([Entry(SAM, T - 2 * HOUR), Entry(ANA, T - 60)], T)
    assert document["Statement"] == [
        {
            "Sid": "Revoked",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceIdentity": [ANA, SAM]},
                "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T07:30:00Z"},
            },
        }
    ]


def test_an_unrevoked_person_keeps_a_statement_of_their_own_until_their_old_sessions_have_expired():
    entries = [Entry(ANA, T - 3 * HOUR), Entry(SAM, T - 2 * HOUR, lifted_at=T - HOUR)]
    assert revocations_policy(entries, T)["Statement"] == [
        {
            "Sid": "Revoked",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceIdentity": ANA},
                "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T07:30:00Z"},
            },
        },
        {
            "Sid": "Unrevoked20261129T063000",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                # only the sessions issued before the unrevoke: the new ones work
                "StringEquals": {"aws:SourceIdentity": SAM},
                "DateLessThan": {"aws:TokenIssueTime": "2026-11-29T06:30:00Z"},
            },
        },
    ]


def test_entries_are_dropped_once_every_session_issued_before_them_has_expired():
    # 12 hours (the longest role session) and 5 minutes of clock margin after the entry's time
    lifted = Entry(SAM, T - 20 * HOUR, lifted_at=T - 12 * HOUR - 299)
    expired_lift = Entry(OLGA, T - 20 * HOUR, lifted_at=T - 12 * HOUR - 300)
    old_revocation = Entry(ANA, T - 12 * HOUR - 300)  # still revoked: the hub refuses them; no session is left
    document = revocations_policy([lifted, expired_lift, old_revocation], T)
    assert [s["Sid"] for s in document["Statement"]] == ["Unrevoked20261128T192501"]
    assert revocations_policy([expired_lift, old_revocation], T) == revocations_policy([], T)


def test_a_person_revoked_again_is_denied_by_the_revoked_statement_only():
    entries = [Entry(ANA, T - 3 * HOUR, lifted_at=T - 2 * HOUR), Entry(ANA, T - HOUR)]
    assert [s["Sid"] for s in revocations_policy(entries, T)["Statement"]] == ["Revoked"]


def test_unrevokes_in_the_same_second_share_a_statement():
    entries = [Entry(SAM, T - 3 * HOUR, lifted_at=T - HOUR + 0.2), Entry(ANA, T - 3 * HOUR, lifted_at=T - HOUR + 0.7)]
    (statement,) = revocations_policy(entries, T)["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceIdentity": [ANA, SAM]}
    assert statement["Condition"]["DateLessThan"] == {"aws:TokenIssueTime": "2026-11-29T06:30:01Z"}


def test_the_text_sent_is_compact_json_and_its_size_is_what_iam_counts():
    text = checked_policy_text([Entry(ANA, T)], T)
    assert text == (
        '{"Version":"2012-10-17","Statement":[{"Sid":"Revoked","Effect":"Deny","Action":"*","Resource":"*",'
        f'"Condition":{{"StringEquals":{{"aws:SourceIdentity":"{ANA}"}},'
        '"DateLessThan":{"aws:TokenIssueTime":"2026-11-29T07:30:00Z"}}}]}'
    )
    assert policy_size(json.dumps(json.loads(text), indent=4)) == len(text)  # whitespace does not count


def revoked_people(count: int) -> list[Entry]:
    return [Entry(str(uuid.UUID(int=i)), T - 60) for i in range(count)]


def test_as_many_revoked_people_as_fit_in_one_managed_policy():
    # 252 characters for one person; each further object id adds 39 ("<36 characters>",)
    assert policy_size(checked_policy_text(revoked_people(152), T)) == 6143
    with pytest.raises(RevocationPolicyTooLarge) as refused:
        checked_policy_text(revoked_people(153), T)
    assert str(refused.value) == (
        "The revocations policy would be 6,182 characters, over IAM's limit of 6,144 for a managed policy "
        "(whitespace not counted): 153 people revoked and 0 unrevoked in the last 12 hours, each denied until every "
        "session issued before their entry has expired. The hub refuses every revoked person already, but AWS still "
        "honours the credentials they hold until those expire. Room is made as entries expire: the oldest can be "
        "dropped from 2026-11-29T19:34:00Z; repeat the command then (it rewrites the policy)."
    )


def test_many_unrevokes_at_different_times_do_not_fit_and_say_when_room_is_made():
    entries = [Entry(str(uuid.UUID(int=i)), T - 5 * HOUR, lifted_at=T - 4 * HOUR + i) for i in range(40)]
    with pytest.raises(RevocationPolicyTooLarge, match=r"0 people revoked and 40 unrevoked") as refused:
        checked_policy_text(entries, T)
    assert str(refused.value).endswith(
        "dropped from 2026-11-29T15:35:00Z; repeat the command then (it rewrites the policy)."
    )


def test_denied_oids_reads_a_stored_document_back():
    document = revocations_policy([Entry(ANA, T), Entry(SAM, T), Entry(OLGA, T - HOUR, lifted_at=T - 60)], T)
    assert denied_oids(document) == {ANA, SAM, OLGA}
    assert denied_oids(revocations_policy([], T)) == set()
