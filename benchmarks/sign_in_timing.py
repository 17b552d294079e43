"""The real Entra ID authenticator, timed: for each sign-in, how long the authenticator's whole step took, how much of
it was spent waiting for Entra ID's token endpoint and for Microsoft Graph, and how long its own steps took. The
morning benchmark makes this the hub's authenticator (``HUB_TEST_AUTHENTICATOR_CLASS``) and reads the lines it appends
to ``MORNING_SIGN_IN_TIMINGS``.
"""

import contextvars
import json
import os
import time
from contextlib import contextmanager

from authenticator.entra import EntraIDOAuthenticator

# Seconds spent during the sign-in being handled, by what was waited for or done.
_spent: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sign_in_spent", default=None)
PARTS = ("token_exchange", "graph", "other_http", "verify_id_token", "update_auth_model")


@contextmanager
def counted(part: str):
    spent = _spent.get()
    started = time.perf_counter()
    try:
        yield
    finally:
        if spent is not None:
            spent[part] += time.perf_counter() - started


class TimedEntraIDOAuthenticator(EntraIDOAuthenticator):
    async def get_authenticated_user(self, handler, data):
        # JupyterHub's whole authenticator step: authenticate (token exchange, id_token verification, then
        # update_auth_model: groups, the access decision, the account and its binding), the name checks, the
        # post-auth hook.
        spent = dict.fromkeys(PARTS, 0.0)
        _spent.set(spent)
        started = time.perf_counter()
        user = None
        try:
            user = await super().get_authenticated_user(handler, data)
            return user
        finally:
            record = {"name": user and user["name"], "authenticator": time.perf_counter() - started, **spent}
            with open(os.environ["MORNING_SIGN_IN_TIMINGS"], "a") as timings:
                timings.write(json.dumps(record) + "\n")

    async def httpfetch(self, req, *args, **kwargs):
        url = req if isinstance(req, str) else req.url
        if url == self.token_url:
            part = "token_exchange"
        elif url.startswith(self.microsoft_graph_url):
            part = "graph"
        else:
            part = "other_http"
        with counted(part):
            return await super().httpfetch(req, *args, **kwargs)

    async def _verify(self, id_token, nonce):
        with counted("verify_id_token"):
            return await super()._verify(id_token, nonce)

    async def update_auth_model(self, auth_model):
        with counted("update_auth_model"):
            return await super().update_auth_model(auth_model)
