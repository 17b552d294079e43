"""Revoke and unrevoke one person, in the order that closes every door at once.

Revoking: (1) record it, so that from this moment the broker refuses the person in every kind of token and the
authenticator refuses their sign-in; (2) stop their servers; (3) delete their hub tokens; (4) close their open job
runs (the hook ``close_job_runs``, which the scheduled-runs code fills); (5) rewrite the revocations IAM policy, so
that the credentials they already hold stop working within IAM's propagation time; (6) one audit line. Repeating a
revocation repeats steps 2 to 6 with the original time: the way to retry after AWS refused the policy.

Unrevoking removes the open revocation and rewrites the policy (which still denies the sessions issued before the
unrevoke until they have expired); the person signs in again as usual.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ..broker import errors
from ..broker.errors import Refusal
from .document import MAX_SESSION_SECONDS, RevocationPolicyTooLarge, checked_policy_text, expires_at
from .iam import RevocationPolicy, RevocationPolicyError
from .store import Revocation, RevocationStore

audit = logging.getLogger("aws_broker.audit")
# How far back unrevoked entries can still be in the policy (document.expires_at).
_HISTORY_SECONDS = MAX_SESSION_SECONDS + 3600


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def revoked_refusal(revocation: Revocation) -> Refusal:
    """What a revoked person is told, wherever they ask."""
    return Refusal(
        403,
        errors.REVOKED,
        f"Your access was revoked by a hub administrator at {utc_text(revocation.revoked_at)}: no AWS credentials are "
        "issued to you and the hub does not let you in. If this is a mistake, ask a hub administrator to restore it.",
    )


def revocation_json(revocation: Revocation) -> dict:
    return {
        "user": revocation.username,
        "oid": revocation.oid,
        "revoked_at": utc_iso(revocation.revoked_at),
        "revoked_by": revocation.revoked_by,
        "unrevoked_at": utc_iso(revocation.unrevoked_at) if revocation.unrevoked_at else None,
        "unrevoked_by": revocation.unrevoked_by,
    }


def utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Revoker:
    def __init__(
        self,
        store: RevocationStore,
        hub,
        policy: RevocationPolicy,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.hub, self.policy, self.clock = store, hub, policy, clock
        # Filled by the scheduled-runs code: close this person's open job runs (delete their run tokens), returning
        # how many were closed. Until then there are none to close.
        self.close_job_runs: Callable[[str], Awaitable[int]] | None = None
        self._writing = asyncio.Lock()  # one policy version at a time

    def refusal_for(self, username: str) -> Refusal | None:
        """The refusal for a revoked person, else None. Asked on every request, right after the hub says whose the
        token is."""
        revocation = self.store.find(username=username)
        return revoked_refusal(revocation) if revocation else None

    def entries(self, now: float):
        current = self.store.revoked() + self.store.unrevoked_since(now - _HISTORY_SECONDS)
        return [r.entry for r in current if expires_at(r.entry) > now]

    async def sync_policy(self) -> dict:
        """Write the document the store implies; the outcome as the API reports it."""
        async with self._writing:
            now = self.clock()
            try:
                text = checked_policy_text(self.entries(now), now)
                version = await asyncio.to_thread(self.policy.write, text)
            except (RevocationPolicyTooLarge, RevocationPolicyError) as e:
                return {"updated": False, "policy_arn": self.policy.arn, "problem": str(e)}
        return {"updated": True, "policy_arn": self.policy.arn, "version": version}

    async def revoke(self, username: str, by: str) -> tuple[dict, bool]:
        """Revoke ``username``; the outcome, and whether everything succeeded."""
        if username == by:
            raise Refusal(
                400,
                errors.BAD_REQUEST,
                "You cannot revoke yourself: another hub admin must do it (and could not undo it for you otherwise).",
            )
        model = await self.hub.user(username)
        if model is None:
            raise Refusal(
                404,
                errors.NO_SUCH_PERSON,
                f"No one named {username!r} has signed in to this hub, so there is nothing to revoke. Use the hub "
                "name (as on the Admin page), e.g. sam.",
            )
        oid = ((model.get("auth_state") or {}).get("entra") or {}).get("oid")
        if not oid:
            raise Refusal(
                409,
                errors.NO_ENTRA_IDENTITY,
                f"{username!r} has no Entra ID identity recorded (no object id in their sign-in state), so AWS cannot "
                "tell their sessions apart; they hold no brokered credentials. Delete the account on the Admin page.",
            )
        revocation, new = self.store.revoke(username, oid, by, self.clock())
        stopped = []
        for server_name, server in sorted((model.get("servers") or {}).items()):
            if not server.get("stopped"):
                await self.hub.stop_server(username, server_name)
                stopped.append(server_name)
        deleted = 0
        for token_id in await self.hub.token_ids(username):
            deleted += await self.hub.delete_token(username, token_id)
        runs = await self.close_job_runs(username) if self.close_job_runs else 0
        aws = await self.sync_policy()
        outcome = {
            "revocation": revocation_json(revocation),
            "new": new,
            "servers_stopped": stopped,
            "tokens_deleted": deleted,
            "job_runs_closed": runs,
            "aws": aws,
        }
        log = audit.info if aws["updated"] else audit.error
        log(
            "revoked user=%s oid=%s by=%s new=%s servers_stopped=%d tokens_deleted=%d job_runs_closed=%d aws_policy=%s",
            username,
            oid,
            by,
            new,
            len(stopped),
            deleted,
            runs,
            aws.get("version") or "not-updated",
        )
        return outcome, aws["updated"]

    async def unrevoke(self, username: str, by: str) -> tuple[dict, bool]:
        lifted = self.store.unrevoke(username, by, self.clock())
        if lifted is None:
            raise Refusal(404, errors.NOT_REVOKED, f"{username!r} is not revoked; nothing to undo.")
        aws = await self.sync_policy()
        (audit.info if aws["updated"] else audit.error)(
            "unrevoked user=%s oid=%s by=%s aws_policy=%s",
            username,
            lifted.oid,
            by,
            aws.get("version") or "not-updated",
        )
        return {"revocation": revocation_json(lifted), "aws": aws}, aws["updated"]

    async def listing(self) -> dict:
        """Who is revoked (who, oid, when, by whom), and whether the policy in AWS denies each of them (``in_aws``:
        denied, nothing left to deny, NOT denied yet, unknown)."""
        revoked = self.store.revoked()
        try:
            version, denied = await asyncio.to_thread(self.policy.denied)
            aws = {"policy_arn": self.policy.arn, "version": version, "problem": None}
        except RevocationPolicyError as e:
            denied, aws = None, {"policy_arn": self.policy.arn, "version": None, "problem": str(e)}
        now = self.clock()
        people = []
        for r in revoked:
            entry = revocation_json(r)
            if denied is None:
                entry["in_aws"] = "unknown"
            elif r.oid in denied:
                entry["in_aws"] = "denied"
            elif expires_at(r.entry) <= now:  # dropped from the policy on purpose: every session they held expired
                entry["in_aws"] = "nothing left to deny"
            else:
                entry["in_aws"] = "NOT denied yet"
            people.append(entry)
        return {"revocations": people, "aws": aws}
