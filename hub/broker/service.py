"""The credential broker: a hub-managed JupyterHub service serving ``credential_process`` JSON to notebook servers.

Endpoints (under the service prefix, ``contract.SERVICE_PREFIX`` under the hub's base URL):

- ``GET v1/credentials`` with ``Authorization: token <the server's JUPYTERHUB_API_TOKEN>``: the token owner's
  credentials for the role their server was started with, in the ``credential_process`` format. Only a running
  server's own token is served, for that server (``grants.identify``); a personal token is refused. The only
  parameter is ``server`` (the name of the token's own named server); any other is refused. A laptop token (made by
  the hub's page "Use AWS from your laptop": only the laptop scope, its note naming the access group, an expiry
  within ``CredentialBroker.laptop_token_max_days``) gets its owner's credentials for that group, with no server
  running, in a session named ``<username>-laptop``; a scheduled run's token (only the job scope, an open run's)
  gets its owner's credentials for the job's group, in a session named ``<username>-job-<job id>``
  (``grants.token_kind`` tells the kinds apart). Statuses: 200, 400 (bad parameter), 401 (no token), 403 (not
  allowed, with the reason), 404 (no such endpoint), 405 (a method the endpoint does not answer), 502 (AWS refused:
  role missing, trust policy, policy size), 503 (STS throttling or unreachable, hub unreachable). Errors are JSON
  ``{"error": <code>, "message": <text>}``.
- ``GET v1/check``: the same checks and the same minting (so the cache is warm), answering only which role and until
  when, never the secrets. The spawn hook calls it with the new server's token before the server starts.
- ``GET metrics``: Prometheus metrics, for a token with JupyterHub's ``read:metrics`` scope (as the hub's own
  ``/hub/metrics``).
- ``GET health``: 200 when the service runs.
- ``GET access``: the "What can I access?" page for people, behind the hub's OAuth (``access_page.py``).
- ``GET|POST v1/revocations``, ``DELETE v1/revocations/<name>``: revoking one person, for hub admins
  (``hub/revocation/api.py``). A revoked person is refused (403 ``revoked``) with every kind of token.
- ``jobs``: the "Scheduled runs" page for people, behind the hub's OAuth (``hub/jobs/pages.py``).

Every issue writes one audit line (logger ``aws_broker.audit``): who, Entra object id, access group, role, session
name, expiry, whether from the cache or freshly minted, and the kind of token (server, laptop). Every refusal writes
one too: status, reason (the rule), who (once the hub has said whose the token is), the client's address, method,
path and the refused parameter's name.
Credentials, tokens, parameter values and session policies are never logged.
"""

import hashlib
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from authenticator.policy_file import AccessPolicyFile

from ..jobs.pages import jobs_page_routes
from . import errors
from .access_page import access_page_routes, access_page_settings
from .cache import CredentialCache, TTLCache
from .contract import CLIENT_HEADER, LAPTOP_CLIENT, LAPTOP_PAGE_TITLE
from .errors import Refusal
from .grants import JOB, LAPTOP, decide_grant, decide_laptop_grant, identify, laptop_access_group, token_kind
from .metrics import BrokerMetrics
from .minting import Credentials, Grant, Minter

if TYPE_CHECKING:
    from hub.revocation.revoker import Revoker

log = logging.getLogger("aws_broker")
audit = logging.getLogger("aws_broker.audit")

ALLOWED_PARAMETERS = frozenset({"server"})


_INVALID_LAPTOP_TOKEN = (
    "This hub token is not valid (any more): it expired, it was revoked on the hub's token page, or you may no longer "
    "use the hub (for example because you were removed from the Entra ID groups that grant access). Create a new "
    f'token on the hub\'s page "{LAPTOP_PAGE_TITLE}" (linked from the home page).'
)


class HubClient:
    """The hub API calls the broker makes."""

    def __init__(self, api_url: str, service_token: str, timeout: float):
        self.api_url, self.service_token, self.timeout = api_url.rstrip("/"), service_token, timeout
        self.http = AsyncHTTPClient(max_clients=100)

    async def _get(self, path: str, token: str) -> dict:
        return await self._send("GET", path, token)

    async def _send(self, method: str, path: str, token: str) -> dict:
        request = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            headers={"Authorization": f"token {token}"},
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
        )
        response = await self.http.fetch(request)
        return json.loads(response.body) if response.body else {}

    async def whoami(self, token: str, client: str = "") -> dict:
        """The token owner's model; the hub re-checks the person's membership (``refresh_user``) on this call.
        ``client`` (the helper's laptop mode says so) only words the refusal of a token the hub does not know."""
        try:
            return await self._get("/user", token)
        except HTTPClientError as e:
            if e.code in (401, 403):
                raise Refusal(
                    403,
                    errors.INVALID_TOKEN,
                    _INVALID_LAPTOP_TOKEN
                    if client == LAPTOP_CLIENT
                    else (
                        "This hub token is not valid (any more): the server was stopped, or your sign-in ended, for "
                        "example because you were removed from the Entra ID groups that grant access. Sign in to the "
                        "hub again and restart your server."
                    ),
                ) from None
            raise self._unavailable(e) from None
        except OSError as e:
            raise self._unavailable(e) from None

    async def token(self, name: str, token_id: str) -> dict | None:
        """A token's model (note, created, expires_at), read with the broker's service token (``read:tokens``); None
        when the hub has no such token (revoked meanwhile)."""
        return await self._as_broker("GET", f"/users/{quote(name, safe='')}/tokens/{quote(token_id, safe='')}")

    async def user(self, name: str) -> dict | None:
        """The person's full model (``auth_state``, servers and their ``user_options``), read with the broker's
        service token; None when the hub has no such person."""
        return await self._as_broker("GET", f"/users/{quote(name, safe='')}")

    async def _as_broker(self, method: str, path: str) -> dict | None:
        """A call with the broker's service token; None when the hub answers 404 (gone already)."""
        try:
            return await self._send(method, path, self.service_token)
        except HTTPClientError as e:
            if e.code == 404:
                return None
            raise self._unavailable(e) from None
        except OSError as e:
            raise self._unavailable(e) from None

    async def stop_server(self, name: str, server_name: str) -> None:
        """Stop one of the person's servers (the hub revokes the server's token as it stops)."""
        where = f"servers/{quote(server_name, safe='')}" if server_name else "server"
        await self._as_broker("DELETE", f"/users/{quote(name, safe='')}/{where}")

    async def token_ids(self, name: str) -> list[str]:
        """The ids of the person's hub tokens (personal, OAuth, servers')."""
        answer = await self._as_broker("GET", f"/users/{quote(name, safe='')}/tokens")
        return [t["id"] for t in (answer or {}).get("api_tokens", [])]

    async def delete_token(self, name: str, token_id: str) -> bool:
        """Delete one token (an OAuth token takes its client's other tokens with it); False if gone already."""
        path = f"/users/{quote(name, safe='')}/tokens/{quote(token_id, safe='')}"
        return await self._as_broker("DELETE", path) is not None

    def _unavailable(self, error) -> Refusal:
        log.error("Hub API unavailable: %s", getattr(error, "code", None) or type(error).__name__)
        return Refusal(
            503,
            errors.HUB_UNAVAILABLE,
            "The hub did not answer the credential broker. Try again in a minute; if it persists, tell your "
            "administrator.",
        )


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Broker:
    """Resolves a token to a grant (through the hub) and a grant to credentials (through the cache and STS)."""

    def __init__(
        self,
        hub: HubClient,
        policy_file: AccessPolicyFile,
        minter: Minter,
        metrics: BrokerMetrics,
        credential_cache: CredentialCache,
        identity_cache: TTLCache,
        laptop_token_max_days: int = 30,
        jobs=None,
        revoker: "Revoker | None" = None,
    ):
        self.hub, self.policy_file, self.minter, self.metrics = hub, policy_file, minter, metrics
        self.credential_cache, self.identity_cache = credential_cache, identity_cache
        self.laptop_token_max_days = laptop_token_max_days
        self.jobs = jobs  # scheduled runs (hub.jobs.runs.JobRuns): the scheduler's API, job tokens, the jobs pages
        self.revoker = revoker  # revoking one person (hub.revocation.revoker.Revoker)

    def refuse_if_revoked(self, whoami: dict) -> None:
        """A revoked person is refused, whatever kind of token they hold: called right after the hub says whose the
        token is, on every path that issues credentials."""
        refusal = self.revoker.refusal_for(whoami["name"]) if self.revoker and whoami.get("kind") == "user" else None
        if refusal:
            refusal.user = whoami["name"]
            raise refusal

    async def grant_for(self, token: str, server_name: str, client: str = "") -> tuple[str, Grant]:
        """The kind of token (``grants.SERVER``, ``grants.LAPTOP``, ``grants.JOB``) and its grant."""
        # Whether the token is still valid is asked of the hub on every request, never remembered: the hub revokes
        # a server's token when the server stops, and a person may revoke a token; from that moment it gets nothing.
        try:
            whoami = await self.hub.whoami(token, client)
        except Refusal as refusal:
            # A scheduled run's token is deleted when its run ends: say so rather than "not valid".
            ended = self.jobs.refusal_for_ended_token(token) if self.jobs and refusal.status == 403 else None
            raise ended or refusal from None
        self.refuse_if_revoked(whoami)
        try:
            kind, resolve = self._resolver(whoami, token, server_name)
            if kind == JOB:  # the job store is asked every time: pausing a job ends its credentials at once
                return kind, await resolve()
            # What the owner may have (eligible roles, the server's role choice, the laptop token's group) is
            # remembered per token, briefly.
            return kind, await self.identity_cache.get((token_key(token), server_name), resolve)
        except Refusal as refusal:
            refusal.user = whoami.get("name")
            raise

    def _resolver(self, whoami: dict, token: str, server_name: str):
        """The kind of token, and how its grant is found: one branch per kind (``grants.token_kind``)."""
        kind = token_kind(whoami)
        if kind == LAPTOP:
            return kind, lambda: self._laptop_grant(whoami, server_name)
        if kind == JOB and self.jobs is not None:
            return kind, lambda: self.jobs.grant_for_token(whoami, token)
        name = identify(whoami, server_name=server_name)  # only a server's own token, checked on every request
        return kind, lambda: self._server_grant(name, server_name)

    async def _user_model(self, name: str) -> dict:
        user_model = await self.hub.user(name)
        if user_model is None:
            raise errors.account_gone()
        return user_model

    async def _server_grant(self, name: str, server_name: str) -> Grant:
        return decide_grant(await self._user_model(name), self.policy_file.policy, server_name)

    async def _laptop_grant(self, whoami: dict, server_name: str) -> Grant:
        if server_name:
            raise Refusal(
                400,
                errors.UNKNOWN_PARAMETER,
                "A laptop token is for no server: leave out the 'server' parameter.",
                parameter="server",
            )
        token_model = await self.hub.token(whoami["name"], whoami.get("token_id") or "")
        if token_model is None:
            raise Refusal(403, errors.INVALID_TOKEN, _INVALID_LAPTOP_TOKEN)
        policy = self.policy_file.policy
        access_group = laptop_access_group(token_model, policy, self.laptop_token_max_days)
        return decide_laptop_grant(await self._user_model(whoami["name"]), policy, access_group)

    @staticmethod
    def credential_key(grant: Grant) -> tuple:
        """Credentials are cached per person, role, session name (what kind of session) and session policy."""
        return (
            grant.username,
            grant.role_arn,
            grant.session_name,
            hashlib.sha256(grant.session_policy.encode()).hexdigest(),
        )

    async def credentials(self, token: str, server_name: str, client: str = "") -> tuple[Grant, Credentials, bool]:
        kind, grant = await self.grant_for(token, server_name, client)
        credentials, from_cache = await self.issue(grant, kind)
        return grant, credentials, from_cache

    async def issue(self, grant: Grant, kind: str) -> tuple[Credentials, bool]:
        """Credentials for ``grant`` (from the cache, else one STS call), counted and audited with what they are for
        (``kind``: the kind of token, or the broker's own page that uses the person's credentials)."""
        credentials, from_cache = await self.credential_cache.get(
            self.credential_key(grant), lambda: self.minter.mint(grant)
        )
        source = "cache" if from_cache else "sts"
        if from_cache:
            self.metrics.cache_hits.inc()
        self.metrics.issued.labels(source, grant.group.name).inc()
        audit.info(
            "issued user=%s oid=%s access_group=%s role=%s session=%s expires=%s source=%s kind=%s",
            grant.username,
            grant.oid,
            grant.group.name,
            grant.role_arn,
            grant.session_name,
            credentials.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            source,
            kind,
        )
        return credentials, from_cache


class BaseHandler(web.RequestHandler):
    @property
    def broker(self) -> Broker:
        return self.settings["broker"]

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        raise Refusal(
            401,
            errors.NO_TOKEN,
            "No hub token was sent. The credential helper sends the server's JUPYTERHUB_API_TOKEN; run it inside a "
            "notebook server started by the hub.",
        )

    def client(self) -> str:
        return self.request.headers.get(CLIENT_HEADER, "")

    def server_name(self) -> str:
        unknown = sorted(set(self.request.query_arguments) - ALLOWED_PARAMETERS)
        if unknown:
            raise Refusal(
                400,
                errors.UNKNOWN_PARAMETER,
                f"Unknown parameter {unknown[0]!r}: the broker serves only the token owner's own credentials, for "
                "the role their server was started with.",
                parameter=unknown[0],
            )
        return self.get_query_argument("server", "")

    def log_exception(self, typ, value, tb):
        if not isinstance(value, Refusal):  # a refusal is an answer, audited in write_error, not a failure
            super().log_exception(typ, value, tb)

    def write_error(self, status_code, **kwargs):
        refusal = kwargs.get("exc_info", (None, None))[1]
        if status_code == 405:  # a method this endpoint does not have (tornado's own refusal)
            refusal = Refusal(
                405,
                errors.METHOD_NOT_ALLOWED,
                f"{self.request.method} is not answered here: this endpoint answers {answered_methods(type(self))}.",
            )
        if isinstance(refusal, Refusal):
            self.broker.metrics.refused.labels(refusal.reason).inc()
            # Who (once the hub has said), from where, which rule, which path and parameter; never a token or value.
            audit.warning(
                "refused status=%s reason=%s user=%s client=%s method=%s path=%s parameter=%s",
                refusal.status,
                refusal.reason,
                refusal.user or "-",
                self.request.remote_ip,
                self.request.method,
                self.request.path,
                refusal.parameter or "-",
            )
            self.set_status(refusal.status)
            return self.finish(json.dumps(refusal.to_json()))
        # Never a traceback to a client.
        message = "The credential broker failed unexpectedly; the administrator can find details in its log."
        self.finish(json.dumps({"error": "internal" if status_code >= 500 else "bad-request", "message": message}))


class CredentialsHandler(BaseHandler):
    async def get(self):
        _grant, credentials, _ = await self.broker.credentials(self.token(), self.server_name(), self.client())
        self.finish(json.dumps(credentials.credential_process_json()))


class CheckHandler(BaseHandler):
    async def get(self):
        grant, credentials, from_cache = await self.broker.credentials(self.token(), self.server_name(), self.client())
        self.finish(
            json.dumps(
                {
                    "user": grant.username,
                    "access_group": grant.group.name,
                    "display_name": grant.group.display_name,
                    "role_arn": grant.role_arn,
                    "session_name": grant.session_name,
                    "expiration": credentials.credential_process_json()["Expiration"],
                    "source": "cache" if from_cache else "sts",
                }
            )
        )


class MetricsHandler(BaseHandler):
    async def get(self):
        whoami = await self.broker.hub.whoami(self.token())
        if "read:metrics" not in (whoami.get("scopes") or []):
            raise Refusal(403, errors.MISSING_SCOPE, "Reading metrics needs the 'read:metrics' scope.")
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.broker.metrics.registry))


class HealthHandler(BaseHandler):
    """``health``, and the prefix itself: JupyterHub checks a service's URL every ``service_check_interval``."""

    def get(self):
        self.finish(json.dumps({"status": "ok"}))


class NotFoundHandler(BaseHandler):
    """Any other path: a refusal in the API's shape, audited like the others."""

    def prepare(self):
        raise Refusal(
            404,
            errors.NOT_FOUND,
            "No such endpoint. The broker answers GET v1/credentials and v1/check (with a server's own token), "
            "metrics, health and access, under its prefix.",
        )


def answered_methods(handler_class: type) -> str:
    """The methods a handler class defines itself (tornado's base class refuses the others with 405)."""
    own = [
        m
        for m in ("GET", "POST", "DELETE")
        if getattr(handler_class, m.lower()) is not getattr(web.RequestHandler, m.lower())
    ]
    return " and ".join(own)


def _log_request(handler: web.RequestHandler) -> None:
    # Every answer is timed (the metrics); issues are audited already, so log refusals and errors only.
    status = handler.get_status()
    broker = handler.settings.get("broker")
    if broker is not None:
        endpoint = type(handler).__name__.removesuffix("Handler")
        broker.metrics.request_seconds.labels(endpoint, str(status)).observe(handler.request.request_time())
    if status >= 400:
        request = handler.request
        log.info("%s %s %s %.1fms", status, request.method, request.path, 1000 * request.request_time())


def make_app(broker: Broker, prefix: str, airflow=None) -> web.Application:
    """The broker's endpoints and pages under ``prefix``; ``airflow`` (``hub.jobs.airflow_api.AirflowClient``) is how
    the scheduled-runs page asks Airflow to start a run now (None: no Airflow is set up)."""
    from ..jobs.scheduler_api import scheduler_routes  # its handlers build on this module's
    from ..revocation.api import revocation_routes  # likewise

    prefix = "/" + prefix.strip("/") + "/"
    return web.Application(
        [
            (rf"{prefix}v1/credentials", CredentialsHandler),
            *scheduler_routes(prefix),
            (rf"{prefix}v1/check", CheckHandler),
            (rf"{prefix}metrics", MetricsHandler),
            (rf"{prefix}health", HealthHandler),
            (rf"{prefix}", HealthHandler),
            *revocation_routes(prefix),
            *access_page_routes(prefix),
            *jobs_page_routes(prefix),
        ],
        default_handler_class=NotFoundHandler,
        broker=broker,
        airflow=airflow,
        log_function=_log_request,
        **access_page_settings(),
    )
