"""The hub's page "Use AWS from your laptop" (``/hub/aws-laptop``), a handler of the hub itself, behind its login.

A person picks one of their eligible roles whose access group allows laptops (``laptop_access``; a person with one
such role is not asked), a lifetime (``CredentialBroker.laptop_token_default_days``, at most
``CredentialBroker.laptop_token_max_days``: the broker enforces the same maximum) and gives their laptop's home folder.
The page makes a hub token for that purpose only (the laptop scope for its owner, nothing else; its note names the
access group) and shows it once, with the AWS profile that uses it and the command that stores it
(:mod:`hub.laptop.setup`). ``/hub/aws-laptop/aws_credential_process.py`` downloads the helper. The token never reaches a
log; the answer that carries it is not cached.

Registered by ``hub/config/26-laptop-access.py`` (``JupyterHub.extra_handlers``).
"""

import re
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import get_browser_protocol
from tornado import web

from authenticator.auth_state import eligible_roles
from authenticator.policy_file import AccessPolicyFile

from ..broker.contract import LAPTOP_NOTE_PREFIX, LAPTOP_PAGE_PATH, LAPTOP_PAGE_TITLE, LAPTOP_SCOPE, SERVICE_PREFIX
from ..broker.settings import CredentialBroker
from .setup import HELPER_NAME, SetupError, checked_home, laptop_setup

TEMPLATES = Path(__file__).resolve().parent / "templates"
HELPER_FILE = Path(__file__).resolve().parents[1] / HELPER_NAME
DAY_SECONDS = 86400


def usable_roles(auth_state: dict, policy) -> tuple[list[dict], list[dict]]:
    """The person's eligible roles whose access group allows laptops, and those whose group does not."""
    usable, off = [], []
    for role in eligible_roles(auth_state or {}):
        group = policy.group(role.get("access_group", ""))
        if group is not None and group.role_arn == role.get("role_arn"):
            (usable if group.laptop_access else off).append(role)
    return usable, off


def lifetime_days(text: str, maximum: int) -> int:
    try:
        days = int(str(text).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= maximum:
        raise SetupError(f"Choose how many days the token lives: a whole number from 1 to {maximum}.")
    return days


class LaptopAccessHandler(BaseHandler):
    """``GET`` the form; ``POST`` it to make the token (the hub's XSRF check applies, as to its own forms)."""

    def initialize(self, policy_file: AccessPolicyFile, broker: CredentialBroker):
        self.policy_file, self.broker_settings = policy_file, broker

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")  # the answer to POST carries the token

    @property
    def max_days(self) -> int:
        return self.broker_settings.laptop_token_max_days

    def broker_url(self) -> str:
        """The broker as a laptop reaches it: the hub's public URL (or this request's) and the service prefix."""
        public = self.settings.get("public_url")
        proto, host = (
            (public.scheme, public.netloc) if public else (get_browser_protocol(self.request), self.request.host)
        )
        return f"{proto}://{host}{self.base_url}{SERVICE_PREFIX.lstrip('/')}"

    async def render_page(self, status: int = 200, **values) -> None:
        auth_state = await self.current_user.get_auth_state()
        usable, off = usable_roles(auth_state, self.policy_file.policy)
        defaults = {
            "title": LAPTOP_PAGE_TITLE,
            "roles": usable,
            "roles_off": off,
            "max_days": self.max_days,
            "days": min(self.broker_settings.laptop_token_default_days, self.max_days),
            "home": "",
            "chosen": usable[0]["access_group"] if usable else "",
            "error": None,
            "setup": None,
            "token": None,
            "page_url": f"{self.hub.base_url}{LAPTOP_PAGE_PATH}",
            "helper_url": f"{self.hub.base_url}{LAPTOP_PAGE_PATH}/{HELPER_NAME}",
            "tokens_url": f"{self.hub.base_url}token",
        }
        environment = self.settings["jinja2_env"]
        page = environment.overlay(loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), environment.loader]))
        namespace = {**self.template_namespace, "xsrf_token": self.xsrf_token.decode("ascii"), **defaults, **values}
        self.set_status(status)
        self.finish(await page.get_template("aws-laptop.html").render_async(**namespace))

    @web.authenticated
    async def get(self):
        await self.render_page()

    @web.authenticated
    async def post(self):
        user = self.current_user
        form = {name: self.get_body_argument(name, "") for name in ("access_group", "days", "home")}
        kept = {"chosen": form["access_group"], "home": form["home"], "days": form["days"]}
        usable, off = usable_roles(await user.get_auth_state(), self.policy_file.policy)
        role = next((r for r in usable if r["access_group"] == form["access_group"]), None)
        if role is None:
            turned_off = next((r for r in off if r["access_group"] == form["access_group"]), None)
            message = (
                f"AWS access from a laptop is turned off for the role {turned_off['display_name']}: use it inside a "
                "notebook server on the hub. Your administrator decides this (laptop_access in the access policy)."
                if turned_off
                else f"You may not use the AWS role {form['access_group'][:64]!r}: it is not one of yours."
            )
            return await self.render_page(403, error=message, **kept)
        try:
            days = lifetime_days(form["days"], self.max_days)
            home = checked_home(form["home"])
        except SetupError as e:
            return await self.render_page(400, error=str(e), **kept)
        group = role["access_group"]
        token = user.new_api_token(
            scopes=[f"{LAPTOP_SCOPE}!user"], note=f"{LAPTOP_NOTE_PREFIX}{group}", expires_in=days * DAY_SECONDS
        )
        self.log.info("%s made a laptop token for access group %s, valid %d days", user.name, group, days)
        setup = laptop_setup(
            home=home,
            profile_prefix=self.broker_settings.laptop_profile_prefix,
            access_group=group,
            broker_url=self.broker_url(),
            region=self.policy_file.policy.deployment.aws_region,
        )
        await self.render_page(setup=setup, token=token, role=role, token_days=days, **kept)


class HelperDownloadHandler(BaseHandler):
    """The credential helper, one standard-library file, as a download."""

    @web.authenticated
    def get(self):
        self.set_header("Content-Type", "text/x-python; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="{HELPER_NAME}"')
        self.finish(HELPER_FILE.read_bytes())


def laptop_handlers(policy_file: AccessPolicyFile, broker: CredentialBroker) -> list[tuple]:
    """``JupyterHub.extra_handlers`` entries (the hub puts them under its own prefix: ``/hub/aws-laptop``)."""
    settings = {"policy_file": policy_file, "broker": broker}
    return [
        (rf"/{LAPTOP_PAGE_PATH}", LaptopAccessHandler, settings),
        (rf"/{LAPTOP_PAGE_PATH}/{re.escape(HELPER_NAME)}", HelperDownloadHandler),
    ]
