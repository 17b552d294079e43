"""The "What can I access?" page, served by the broker at ``<service prefix>access`` behind the hub's OAuth.

A signed-in person sees why they have access (the Entra ID groups that grant it), the roles they are eligible for,
the role each of their running servers uses, the S3 locations that role reaches, and when the credentials the broker
issued for it expire. A hub admin can see the same for anyone (``access?user=<name>``): the answer of
``entra-access explain``, with what is actually in force. Nobody else can see another person's page.

Nothing secret is on it: no AWS keys or session tokens, no hub or Entra tokens, no session policy text.

- :func:`access_view` (pure) builds the page's data from the hub's user model (read with the broker's service token:
  ``auth_state`` and the servers' role choice), the access policy and a lookup into the broker's credential cache;
- :func:`render_access_page` and :func:`render_message_page` (pure) turn data into HTML;
- :class:`AccessPageHandler` does the I/O: who is asking (the hub's OAuth), whom they may see, the hub API calls.
"""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from authenticator.access_policy import AccessPolicy
from authenticator.auth_state import eligible_roles
from authenticator.safe_names import safe_name

from ..admin_role import is_hub_admin
from . import errors
from .contract import JOBS_PAGE_PATH, LAPTOP_PAGE_PATH, ROLE_OPTION
from .errors import Refusal
from .grants import decide_grant
from .minting import Credentials, Grant

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_PATH = "access"
_jinja = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]), trim_blocks=True)


# ---- pure: the page's data ------------------------------------------------------------------------------------------


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative_text(seconds: float) -> str:
    """``in 52 minutes`` / ``3 minutes ago``: the nearest unit a person reads at a glance."""
    future, amount = seconds >= 0, abs(seconds)
    if amount < 60:
        return "in less than a minute" if future else "less than a minute ago"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if amount >= size:
            count = int(amount // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    raise AssertionError("unreachable")


def when(epoch: float | None, now: float) -> dict | None:
    if not epoch:
        return None
    return {"utc": utc_text(epoch), "relative": relative_text(epoch - now)}


def assumed_role_arn(role_arn: str, session_name: str) -> str:
    """``arn:aws:iam::1:role/x`` -> ``arn:aws:sts::1:assumed-role/x/<session>``: who CloudTrail shows."""
    prefix, _, role_path = role_arn.partition(":role/")
    partition, account = prefix.split(":")[1], prefix.split(":")[4]
    return f"arn:{partition}:sts::{account}:assumed-role/{role_path.rsplit('/', 1)[-1]}/{session_name}"


def _location(location) -> dict:
    return {"url": f"s3://{location.bucket}/{location.prefix}", "access": location.access}


def server_view(
    user_model: dict,
    server_name: str,
    server: dict,
    policy: AccessPolicy,
    credentials_for: Callable[[Grant], Credentials | None],
    now: float,
    own: bool = True,
) -> dict:
    """One running (or starting) server: its role, what the role reaches, and its credentials' expiry."""
    whose = "Your" if own else f"{user_model['name']}'s"
    view = {
        "name": server_name,
        "label": f"{whose} server {server_name!r}" if server_name else f"{whose} server",
        "ready": bool(server.get("ready")),
        "access_group": (server.get("user_options") or {}).get(ROLE_OPTION),
        "role": None,
        "problem": None,
    }
    try:
        grant = decide_grant(user_model, policy, server_name)
    except Refusal as refusal:
        view["problem"] = refusal.message
        return view
    group, home = grant.group, policy.deployment.home_location(grant.username)
    credentials = credentials_for(grant)
    view["access_group"] = group.name
    view["role"] = {
        "display_name": group.display_name,
        "role_arn": group.role_arn,
        "acting_as": assumed_role_arn(group.role_arn, grant.username),
        "session_duration_minutes": group.session_duration_seconds // 60,
        "locations": [
            {**_location(home), "what": "your own notebooks" if own else "their own notebooks"},
            *({**_location(s3), "what": f"shared through {group.display_name}"} for s3 in group.s3),
        ],
        "credentials": None if credentials is None else when(credentials.expiration.timestamp(), now),
    }
    return view


def access_view(
    user_model: dict,
    policy: AccessPolicy,
    credentials_for: Callable[[Grant], Credentials | None],
    now: float,
    viewer: str,
) -> dict:
    """Everything the page shows about the person in ``user_model`` (a hub user model with ``auth_state``)."""
    name = user_model["name"]
    auth_state = user_model.get("auth_state") or {}
    entra = auth_state.get("entra") or {}
    claims = auth_state.get("user") or {}
    groups = [policy.group(role.get("access_group", "")) for role in eligible_roles(auth_state)]
    decision = policy.decide([g.entra_group_id for g in groups if g is not None])
    home = [policy.deployment.home_location(safe_name(name))] if decision.allowed else []
    servers = [
        server_view(user_model, server_name, server, policy, credentials_for, now, own=viewer == name)
        for server_name, server in sorted((user_model.get("servers") or {}).items())
        if not server.get("stopped")
    ]
    in_use = {s["access_group"]: s["label"] for s in servers if s["role"]}
    return {
        "username": name,
        "own_page": viewer == name,
        "viewer": viewer,
        "display_name": claims.get("name") or name,
        "sign_in_name": claims.get("preferred_username") or "",
        "entra_object_id": entra.get("oid") or "",
        "admin": is_hub_admin(user_model, policy),
        "allowed": decision.allowed,
        "membership_checked": when(entra.get("groups_checked_at"), now),
        "access_groups": [
            {
                "name": g.name,
                "display_name": g.display_name,
                "description": g.description,
                "entra_group_id": g.entra_group_id,
                "role_arn": g.role_arn,
                "session_duration_minutes": g.session_duration_seconds // 60,
                "hub_admin": g.hub_admin,
                "locations": [_location(s) for s in g.s3],
                "in_use_by": in_use.get(g.name),
            }
            for g in decision.groups
        ],
        "home": [_location(h) for h in home],
        "granting_groups": [
            {"display_name": g.display_name, "entra_group_id": g.entra_group_id} for g in policy.access_groups
        ],
        "servers": servers,
    }


# ---- pure: HTML -----------------------------------------------------------------------------------------------------


def render_access_page(view: dict, links: dict) -> str:
    return _jinja.get_template("access.html").render(view=view, links=links)


def render_message_page(title: str, message: str, links: dict, status: int) -> str:
    return _jinja.get_template("message.html").render(title=title, message=message, links=links, status=status)


def page_links(hub_prefix: str, service_prefix: str, viewer: str | None = None) -> dict:
    """The URLs the pages link to (the hub's stylesheet, home, sign-out, this page, the laptop page, the
    scheduled-runs page) and which of the broker's pages is shown (``active``, highlighted in the navigation)."""
    return {
        "stylesheet": f"{hub_prefix}static/css/style.min.css",
        "home": f"{hub_prefix}home",
        "logo": f"{hub_prefix}logo",
        "logout": f"{hub_prefix}logout",
        "admin": f"{hub_prefix}admin",
        "page": f"{service_prefix}{PAGE_PATH}",
        "laptop": f"{hub_prefix}{LAPTOP_PAGE_PATH}",
        "jobs": f"{service_prefix}{JOBS_PAGE_PATH}",
        "active": "access",
        "viewer": viewer,
    }


# ---- I/O: the handler -----------------------------------------------------------------------------------------------


class HubPageHandler(HubOAuthenticated, web.RequestHandler):
    """A page of the broker's for people, behind the hub's OAuth: the visitor is identified before every request, and
    errors are pages saying what happened, never a traceback. The access page and the scheduled-runs page build on
    it."""

    def set_default_headers(self):
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        self.set_header("Referrer-Policy", "no-referrer")

    async def prepare(self):
        # Identify the visitor without blocking the broker's event loop (the mixin's own path is synchronous).
        await self.hub_auth.get_user(self, sync=False)

    def links(self) -> dict:
        viewer = (getattr(self, "_hub_auth_user_cache", None) or {}).get("name")
        return page_links(self.hub_auth.hub_prefix, self.hub_auth.base_url, viewer)

    def message(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.finish(render_message_page(title, text, self.links(), status))

    def log_exception(self, typ, value, tb):
        if not isinstance(value, Refusal):  # a refusal is an answer shown on the page, not a failure
            super().log_exception(typ, value, tb)

    def write_error(self, status_code, **kwargs):
        # Never a traceback: a page saying what happened.
        refusal = kwargs.get("exc_info", (None, None))[1]
        if isinstance(refusal, Refusal):
            return self.message(refusal.status, "Not available right now", refusal.message)
        if status_code == 403:
            text = "You may not see this page. Sign in to the hub as yourself and open it from the home page."
        else:
            text = "The page could not be shown; the administrator can find details in the broker's log."
        self.message(status_code, "Not available", text)


class AccessPageHandler(HubPageHandler):
    """``GET access`` (own page) and ``GET access?user=<name>`` (admins only)."""

    @web.authenticated
    async def get(self):
        visitor = self.current_user
        if visitor.get("kind", "user") != "user":
            return self.message(403, "Not a person", "This page shows a person's access; sign in to the hub.")
        wanted = self.get_query_argument("user", "").strip().lower() or visitor["name"]
        broker = self.settings["broker"]
        viewer_model = await broker.hub.user(visitor["name"])
        if viewer_model is None:
            raise errors.account_gone()
        viewer_is_admin = is_hub_admin(viewer_model, broker.policy_file.policy)  # the hub-admin role's groups
        if wanted != visitor["name"] and not viewer_is_admin:
            return self.message(
                403,
                "Only your own access",
                "You can see only your own access. Hub admins can see anyone's.",
            )
        model = viewer_model if wanted == visitor["name"] else await broker.hub.user(wanted)
        if model is None:
            return self.message(
                404,
                "No such person",
                f"No one named {wanted!r} has signed in to this hub. People appear here after their first sign-in; "
                "for what someone would get from their Entra ID groups, run `entra-access explain --user`.",
            )
        view = access_view(
            model,
            broker.policy_file.policy,
            lambda grant: broker.credential_cache.cached(broker.credential_key(grant)),
            datetime.now(UTC).timestamp(),
            viewer=visitor["name"],
        )
        view["viewer_is_admin"] = viewer_is_admin
        self.finish(render_access_page(view, self.links()))


def access_page_routes(prefix: str) -> list:
    """The page and the hub's OAuth callback, under the service prefix (``contract.SERVICE_PREFIX`` under the hub's
    base URL)."""
    return [(rf"{prefix}{PAGE_PATH}", AccessPageHandler), (rf"{prefix}oauth_callback", HubOAuthCallbackHandler)]


def access_page_settings() -> dict:
    """Tornado settings the page needs: a key for the signed cookie holding the visitor's hub OAuth token (new at
    every broker start; people are sent through the hub's OAuth again, without a prompt)."""
    return {"cookie_secret": secrets.token_bytes(32)}
