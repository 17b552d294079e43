"""Revoke and unrevoke, in order, with the exact refusals. The hub and IAM are recorders here (their real versions
are exercised in tests/integration/test_revocation.py and test_revocation_iam.py); the store is the real SQLite one.
"""

import asyncio
import json

import pytest

from hub.broker.errors import Refusal
from hub.revocation.document import revocations_policy
from hub.revocation.iam import RevocationPolicyError
from hub.revocation.revoker import Revoker
from hub.revocation.store import RevocationStore

pytestmark = pytest.mark.unit

ANA = "0b7a9a52-6f0e-4a8e-9d4c-1b2f3c4d5e6f"
NOW = 1_800_000_000.0
ARN = "arn:aws:iam::123456789012:policy/jupyterhub-revocations"


class RecordingHub:
    def __init__(self, people: dict):
        self.people, self.calls = people, []

    async def user(self, name):
        return self.people.get(name)

    async def stop_server(self, name, server_name):
        self.calls.append(("stop", name, server_name))

    async def token_ids(self, name):
        return ["a1", "a2"] if name == "ana" else ["a9"]

    async def delete_token(self, name, token_id):
        self.calls.append(("delete", name, token_id))
        return token_id != "a2"  # a2 went with a1 (an OAuth client's tokens go together)


class RecordingPolicy:
    arn = ARN

    def __init__(self, refuse: str | None = None):
        self.written, self.refuse = [], refuse

    def write(self, text):
        if self.refuse:
            raise RevocationPolicyError(self.refuse)
        self.written.append(json.loads(text))
        return f"v{len(self.written) + 1}"


def person(name, oid=ANA, servers=None):
    return {"name": name, "auth_state": {"entra": {"oid": oid}}, "servers": servers or {}}


@pytest.fixture
def store(tmp_path):
    return RevocationStore(path=str(tmp_path / "revocations.sqlite"))


def revoker(store, hub, policy=None):
    return Revoker(store, hub, policy or RecordingPolicy(), clock=lambda: NOW)


def test_revoke_records_stops_deletes_closes_runs_then_writes_the_policy(store):
    hub = RecordingHub(
        {"ana": person("ana", servers={"": {"ready": True}, "gpu": {"ready": True}, "old": {"stopped": True}})}
    )
    policy = RecordingPolicy()
    subject = revoker(store, hub, policy)
    closed = []

    async def close_job_runs(name):
        closed.append(name)
        return 2

    subject.close_job_runs = close_job_runs
    outcome, complete = asyncio.run(subject.revoke("ana", "alex"))
    assert complete
    assert outcome == {
        "revocation": {
            "user": "ana",
            "oid": ANA,
            "revoked_at": "2027-01-15T08:00:00Z",
            "revoked_by": "alex",
            "unrevoked_at": None,
            "unrevoked_by": None,
        },
        "new": True,
        "servers_stopped": ["", "gpu"],
        "tokens_deleted": 1,
        "job_runs_closed": 2,
        "aws": {"updated": True, "policy_arn": ARN, "version": "v2"},
    }
    assert hub.calls == [("stop", "ana", ""), ("stop", "ana", "gpu"), ("delete", "ana", "a1"), ("delete", "ana", "a2")]
    assert closed == ["ana"]
    assert policy.written == [revocations_policy([store.find(username="ana").entry], NOW)]
    assert subject.refusal_for("ana").reason == "revoked" and subject.refusal_for("sam") is None


def test_a_refused_policy_write_leaves_the_hub_part_done_and_says_why(store):
    policy = RecordingPolicy(refuse="The revocations policy … does not exist in AWS.")
    outcome, complete = asyncio.run(revoker(store, RecordingHub({"ana": person("ana")}), policy).revoke("ana", "alex"))
    assert not complete
    assert outcome["aws"] == {
        "updated": False,
        "policy_arn": ARN,
        "problem": "The revocations policy … does not exist in AWS.",
    }
    assert store.find(username="ana") is not None  # the hub refuses them all the same


def test_revoking_again_keeps_the_first_time_and_rewrites_the_policy(store):
    hub, policy = RecordingHub({"ana": person("ana")}), RecordingPolicy()
    asyncio.run(Revoker(store, hub, policy, clock=lambda: NOW - 60).revoke("ana", "alex"))
    outcome, complete = asyncio.run(revoker(store, hub, policy).revoke("ana", "bea"))
    assert complete and outcome["new"] is False
    assert (outcome["revocation"]["revoked_at"], outcome["revocation"]["revoked_by"]) == (
        "2027-01-15T07:59:00Z",
        "alex",
    )
    assert len(policy.written) == 2


@pytest.mark.parametrize(
    ("who", "people", "status", "reason", "message"),
    [
        (
            "alex",
            {"alex": person("alex")},
            400,
            "bad-request",
            "You cannot revoke yourself: another hub admin must do it (and could not undo it for you otherwise).",
        ),
        (
            "zoe",
            {},
            404,
            "no-such-person",
            "No one named 'zoe' has signed in to this hub, so there is nothing to revoke. Use the hub name (as on the "
            "Admin page), e.g. sam.",
        ),
        (
            "old",
            {"old": {"name": "old", "auth_state": None, "servers": {}}},
            409,
            "no-entra-identity",
            "'old' has no Entra ID identity recorded (no object id in their sign-in state), so AWS cannot tell their "
            "sessions apart; they hold no brokered credentials. Delete the account on the Admin page.",
        ),
    ],
)
def test_refused_revocations_change_nothing(store, who, people, status, reason, message):
    hub, policy = RecordingHub(people), RecordingPolicy()
    with pytest.raises(Refusal) as refused:
        asyncio.run(revoker(store, hub, policy).revoke(who, "alex"))
    assert (refused.value.status, refused.value.reason, refused.value.message) == (status, reason, message)
    assert store.revoked() == [] and hub.calls == [] and policy.written == []


def test_unrevoke_lifts_and_rewrites_the_policy_with_the_unrevoked_entry(store):
    hub, policy = RecordingHub({"ana": person("ana")}), RecordingPolicy()
    asyncio.run(Revoker(store, hub, policy, clock=lambda: NOW - 600).revoke("ana", "alex"))
    outcome, complete = asyncio.run(revoker(store, hub, policy).unrevoke("ana", "bea"))
    assert complete
    assert (outcome["revocation"]["unrevoked_at"], outcome["revocation"]["unrevoked_by"]) == (
        "2027-01-15T08:00:00Z",
        "bea",
    )
    (statement,) = policy.written[-1]["Statement"]
    assert statement["Sid"] == "Unrevoked20270115T080000"
    assert store.revoked() == []
    with pytest.raises(Refusal) as refused:
        asyncio.run(revoker(store, hub, policy).unrevoke("ana", "bea"))
    assert (refused.value.status, refused.value.reason, refused.value.message) == (
        404,
        "not-revoked",
        "'ana' is not revoked; nothing to undo.",
    )


class StoredPolicy(RecordingPolicy):
    def __init__(self, denied=None, refuse=None):
        super().__init__(refuse)
        self._denied = denied

    def denied(self):
        if self.refuse:
            raise RevocationPolicyError(self.refuse)
        return "v3", self._denied


def test_the_list_says_whether_aws_denies_each_person(store):
    sam, bo = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "f0e1d2c3-b4a5-4968-8776-655443322110"
    store.revoke("sam", sam, "alex", now=NOW - 13 * 3600)  # every session sam held has expired: not in the policy
    store.revoke("ana", ANA, "alex", now=NOW - 60)
    store.revoke("bo", bo, "bea", now=NOW - 30)  # the policy was not written after bo's revocation
    listing = asyncio.run(revoker(store, RecordingHub({}), StoredPolicy(denied={ANA})).listing())
    assert [(r["user"], r["oid"], r["revoked_at"], r["revoked_by"], r["in_aws"]) for r in listing["revocations"]] == [
        ("sam", sam, "2027-01-14T19:00:00Z", "alex", "nothing left to deny"),
        ("ana", ANA, "2027-01-15T07:59:00Z", "alex", "denied"),
        ("bo", bo, "2027-01-15T07:59:30Z", "bea", "NOT denied yet"),
    ]
    assert listing["aws"] == {"policy_arn": ARN, "version": "v3", "problem": None}
    unreadable = asyncio.run(revoker(store, RecordingHub({}), StoredPolicy(refuse="AWS IAM refused …")).listing())
    assert {r["in_aws"] for r in unreadable["revocations"]} == {"unknown"}
    assert unreadable["aws"] == {"policy_arn": ARN, "version": None, "problem": "AWS IAM refused …"}
