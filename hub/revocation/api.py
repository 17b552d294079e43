"""The broker's revocation endpoints, for hub admins (``entra-access revoke|unrevoke|revocations`` call them).

Under the broker's prefix, with ``Authorization: token <a hub admin's token>``:

- ``GET v1/revocations``: who is revoked (who, Entra object id, when, by whom) and whether AWS denies them;
- ``POST v1/revocations`` with ``{"user": "<hub name>"}``: revoke that person now (``revoker.Revoker.revoke``);
- ``DELETE v1/revocations/<hub name>``: unrevoke.

The caller must be a person who is a hub admin now (a member of an access group marked ``hub_admin``), with a token
that may stop people's servers (``admin:servers``, which the hub-admin role has): a server's own token, or a token
made for something narrower, cannot revoke anyone even when its owner is an admin. 200 when everything was done;
502 ``aws-not-updated`` when the hub part was done but AWS refused the policy (the answer says what was done and
why AWS did not follow). Refusals are the broker's JSON ``{"error", "message"}``, audited as every refusal is.
"""

import json

from ..admin_role import is_hub_admin
from ..broker import errors
from ..broker.errors import Refusal
from ..broker.service import BaseHandler

# The hub-admin role's scope that revoking exercises (stopping people's servers).
ADMIN_SCOPE = "admin:servers"


class RevocationBaseHandler(BaseHandler):
    @property
    def revoker(self):
        return self.broker.revoker

    def check_xsrf_cookie(self):
        """Token-authenticated API, no cookies: nothing to forge."""

    async def admin_name(self) -> str:
        whoami = await self.broker.hub.whoami(self.token())
        if whoami.get("kind") != "user":
            raise Refusal(403, errors.NOT_A_PERSON, "Only a hub admin's own token may revoke or list revocations.")
        name = whoami["name"]
        model = await self.broker.hub.user(name)
        if model is None or not is_hub_admin(model, self.broker.policy_file.policy):
            refusal = Refusal(
                403,
                errors.NOT_A_HUB_ADMIN,
                "Only hub admins (members of an access group marked hub_admin in the access policy) may revoke "
                "people or list revocations.",
            )
            refusal.user = name
            raise refusal
        if ADMIN_SCOPE not in set(whoami.get("scopes") or ()):
            refusal = Refusal(
                403,
                errors.MISSING_SCOPE,
                f"This token lacks the {ADMIN_SCOPE!r} scope, so it may not revoke: make a token on the hub's token "
                "page with your full permissions (the default) and use that.",
            )
            refusal.user = name
            raise refusal
        return name

    def answer(self, outcome: dict, complete: bool) -> None:
        if not complete:
            self.set_status(502)
            outcome = {
                "error": errors.AWS_NOT_UPDATED,
                "message": "Done at the hub, but AWS was not updated: "
                + outcome["aws"]["problem"]
                + " Once fixed, repeat the command: it rewrites the policy.",
                **outcome,
            }
            self.broker.metrics.refused.labels(errors.AWS_NOT_UPDATED).inc()
        self.finish(json.dumps(outcome))


class RevocationsHandler(RevocationBaseHandler):
    async def get(self):
        await self.admin_name()
        self.finish(json.dumps(await self.revoker.listing()))

    async def post(self):
        by = await self.admin_name()
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError:
            body = None
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, str) or not user.strip():
            raise Refusal(
                400, errors.BAD_REQUEST, 'Send JSON {"user": "<hub name>"}: the person to revoke.', parameter="user"
            )
        self.answer(*await self.revoker.revoke(user.strip().lower(), by))


class RevocationHandler(RevocationBaseHandler):
    async def delete(self, username: str):
        by = await self.admin_name()
        self.answer(*await self.revoker.unrevoke(username.strip().lower(), by))


def revocation_routes(prefix: str) -> list:
    return [
        (rf"{prefix}v1/revocations", RevocationsHandler),
        (rf"{prefix}v1/revocations/([^/]+)", RevocationHandler),
    ]
