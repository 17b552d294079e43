"""Delivering brokered AWS credentials into a notebook server: role choice, environment, spawn-time check.

One code path for every spawner: :class:`BrokeredAWSMixin` goes in front of the spawner class
(:class:`BrokeredLocalProcessSpawner`, :class:`BrokeredKubeSpawner`). It

- offers a role choice: a person eligible for one role gets it with no form; eligible for several, the options form
  lists them by display name with the last choice pre-selected; a role the person is not eligible for is refused
  whatever the form (or the API) sent;
- checks once, before the server starts, that the role can be assumed (through the broker, with the new server's own
  token, which also warms the broker's cache); a refusal fails the spawn with the reason on the spawn page;
- puts into the server's environment an AWS config whose ``credential_process`` runs the credential helper, the
  region, the endpoint override (local stack), the S3Contents settings (bucket, the person's prefix), and no AWS keys;
- reports progress naming the role.

The pure builders (:func:`options_form_html`, :func:`resolve_role`, :func:`aws_config_text`,
:func:`server_environment`) do no I/O and are tested against literal values.
"""

import asyncio
import html
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from jupyterhub.spawner import SimpleLocalProcessSpawner
from kubespawner import KubeSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from authenticator.access_policy import AccessPolicy
from authenticator.auth_state import EligibleRole, eligible_roles
from authenticator.policy_file import AccessPolicyFile
from authenticator.safe_names import safe_name

from .broker.contract import ROLE_OPTION, SERVICE_PREFIX
from .broker.settings import CredentialBroker

HELPER_PATH = Path(__file__).resolve().parent / "aws_credential_process.py"
USER_SERVER_CONFIG_DIR = Path(__file__).resolve().parent / "user-server"
# Anything that would give the server credentials other than the brokered ones.
FORBIDDEN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


class RoleChoiceError(web.HTTPError):
    """A role the person may not use (or no choice where one is needed); JupyterHub shows ``jupyterhub_message``."""

    def __init__(self, message: str):
        super().__init__(403, message)
        self.jupyterhub_message = message


class AWSCredentialsUnavailable(web.HTTPError):
    """The spawn-time check failed; the message (spawn page, API answer) names the role and the reason."""

    def __init__(self, message: str, status: int = 503):
        super().__init__(status, message)
        self.jupyterhub_message = message


# ---- pure builders -------------------------------------------------------------------------------------------------


def options_form_html(choices: list[EligibleRole], last_choice: str | None) -> str:
    """The role picker: empty (no form) for one role or none; a select listing display names for several."""
    if len(choices) < 2:
        return ""
    selected = last_choice if any(c["access_group"] == last_choice for c in choices) else choices[0]["access_group"]
    options = "\n".join(
        '  <option value="{}"{}>{}</option>'.format(
            html.escape(c["access_group"]),
            " selected" if c["access_group"] == selected else "",
            html.escape(c.get("display_name") or c["access_group"]),
        )
        for c in choices
    )
    return (
        '<label for="aws-role">AWS role for this server</label>\n'
        f'<select class="form-select" id="aws-role" name="{ROLE_OPTION}">\n{options}\n</select>\n'
        '<p class="help-block">Your notebooks stay in your own S3 folder whichever role you choose; the role decides '
        "which shared data the server can reach.</p>"
    )


def resolve_role(choices: list[EligibleRole], user_options: dict | None) -> EligibleRole:
    """The eligible role the server will use, from what the form or API sent; refuses anything else."""
    if not choices:
        raise RoleChoiceError(
            "You are not in any Entra ID group that grants an AWS role, so no server can be started for you. Ask "
            "to be added to one, then sign in again."
        )
    wanted = (user_options or {}).get(ROLE_OPTION)
    if not wanted:
        if len(choices) == 1:
            return choices[0]
        names = ", ".join(c.get("display_name") or c["access_group"] for c in choices)
        raise RoleChoiceError(f"Choose an AWS role for this server: you may use {names}.")
    for choice in choices:
        if choice["access_group"] == wanted:
            return choice
    names = ", ".join(c.get("display_name") or c["access_group"] for c in choices)
    raise RoleChoiceError(
        f"You may not use the AWS role {str(wanted)[:64]!r}: it is not one of yours. Choose one of: {names}."
    )


# S3's DNS suffix per AWS partition: China's regions have their own.
# ref: https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Beijing.html
_DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


def s3_endpoint_url(region: str, partition: str) -> str:
    """S3's regional endpoint in ``partition``: https://s3.cn-north-1.amazonaws.com.cn in aws-cn."""
    return f"https://s3.{region}.{_DNS_SUFFIX[partition]}"


def aws_config_text(helper_command: str, region: str) -> str:
    """The AWS config file every server uses: the same for everyone (who it is comes from the server's token)."""
    return f"[default]\ncredential_process = {helper_command}\nregion = {region}\n"


def server_environment(
    *,
    username: str,
    role: EligibleRole,
    policy: AccessPolicy,
    broker_url: str,
    aws_config_file: str,
    endpoint_url: str = "",
    user_server_config_dir: str = "",
) -> dict:
    """The server's AWS and S3Contents environment. No credentials: those come from the helper, on demand."""
    deployment = policy.deployment
    home = deployment.home_location(safe_name(username))
    region = deployment.aws_region
    env = {
        "AWS_CONFIG_FILE": aws_config_file,
        # Stale keys in a ~/.aws/credentials must not win over the brokered ones.
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_SDK_LOAD_CONFIG": "1",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # Never fall back to the node's instance role.
        "AWS_EC2_METADATA_DISABLED": "true",
        "JUPYTERHUB_AWS_BROKER_URL": broker_url,
        "JUPYTERHUB_AWS_ROLE_ARN": role["role_arn"],
        "JUPYTERHUB_AWS_ACCESS_GROUP": role["access_group"],
        "S3CONTENTS_BUCKET": home.bucket,
        "S3CONTENTS_PREFIX": home.prefix.rstrip("/"),
        "S3CONTENTS_REGION": region,
        "S3CONTENTS_ENDPOINT_URL": endpoint_url or s3_endpoint_url(region, deployment.aws_partition),
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    if user_server_config_dir:
        env["JUPYTER_CONFIG_PATH"] = user_server_config_dir
    return env


def write_file_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (readable by all: it holds no secret) unless it already says exactly that."""
    target = Path(path)
    try:
        if target.read_text() == text:
            return
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".aws-config-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


# ---- the mixin -------------------------------------------------------------------------------------------------------


class BrokeredAWSMixin(LoggingConfigurable):
    """Put in front of a Spawner class. Configure as ``c.BrokeredAWSMixin.<setting>``."""

    broker_url = Unicode(
        config=True,
        help=f"""
        The credential broker's URL as the hub reaches it (ending in the service prefix {SERVICE_PREFIX}), for the
        spawn-time check. Default: the broker beside the hub, where `CredentialBroker.ip` and `.port` say it listens
        (127.0.0.1 when it listens on every address).
        """,
    )
    broker_url_for_servers = Unicode(
        "",
        config=True,
        help=f"""
        The credential broker's URL as notebook servers reach it (empty: `broker_url`). On Kubernetes, through the
        hub Service's broker port, inside the cluster: http://hub:8181{SERVICE_PREFIX}.
        """,
    )
    helper_command = Unicode(
        config=True,
        help="""
        The `credential_process` command, as run inside the server. Default: this hub's Python running
        `hub/aws_credential_process.py` (right for the local spawner). On Kubernetes, the helper's path in the user
        image, e.g. `python3 -I /etc/jupyter/aws_credential_process.py`.
        """,
    )
    aws_config_file = Unicode(
        config=True,
        help="Path of the AWS config file inside the server (its content is `aws_config_text(helper_command)`).",
    )
    write_aws_config = Bool(
        True,
        config=True,
        help="""
        Write `aws_config_file` from the hub before each spawn (right when servers share the hub's filesystem, as
        with the local spawner). Set False where the file is mounted into the server (Kubernetes).
        """,
    )
    aws_endpoint_url = Unicode(
        "",
        config=True,
        help="An AWS endpoint override for servers (the local stack's moto server). Empty for AWS itself.",
    )
    user_server_config_dir = Unicode(
        "",
        config=True,
        help="A directory with the user server's jupyter_server_config.py, added to JUPYTER_CONFIG_PATH.",
    )
    broker_check_timeout = Float(
        30,
        config=True,
        help="Limit for the spawn-time check through the broker (one STS call at most).",
    )

    @default("broker_url")
    def _default_broker_url(self):
        # The broker runs beside the hub (a hub-managed service): its own settings say where it listens.
        broker = CredentialBroker(config=self.config)
        host = "127.0.0.1" if broker.ip in ("0.0.0.0", "::", "") else broker.ip  # noqa: S104 - any address: loopback
        return f"http://{host}:{broker.port}{SERVICE_PREFIX}"

    @default("helper_command")
    def _default_helper_command(self):
        return f"{sys.executable} -I {HELPER_PATH}"

    @default("aws_config_file")
    def _default_aws_config_file(self):
        return os.path.abspath("jupyterhub-aws/config")

    @property
    def aws_policy(self) -> AccessPolicy:
        """The access policy in force (``c.AccessPolicyFile.path``, shared with the authenticator and the broker)."""
        return AccessPolicyFile(parent=self).policy

    # -- role choice

    async def _choices(self) -> list[EligibleRole]:
        return eligible_roles(await self.user.get_auth_state())

    @default("options_form")
    def _default_options_form(self):
        async def form(spawner):
            last = (spawner.orm_spawner.user_options or {}).get(ROLE_OPTION)
            return options_form_html(await spawner._choices(), last)

        return form

    async def options_from_form(self, formdata):
        wanted = (formdata.get(ROLE_OPTION) or [""])[0]
        role = resolve_role(await self._choices(), {ROLE_OPTION: wanted} if wanted else {})
        return {ROLE_OPTION: role["access_group"]}

    # -- progress

    def _aws_event(self, progress: int, message: str) -> None:
        self._aws_events.append({"progress": progress, "message": message})
        self._aws_new_event.set()

    async def progress(self):
        if not hasattr(self, "_aws_events"):
            self._aws_events, self._aws_new_event = [], asyncio.Event()
        sent = 0
        while True:
            while sent < len(self._aws_events):
                sent += 1
                yield self._aws_events[sent - 1]
            if getattr(self, "_aws_done", True):
                break
            self._aws_new_event.clear()
            await self._aws_new_event.wait()
        async for event in super().progress():
            yield event

    # -- start: resolve, check through the broker, then start

    async def start(self):
        self._aws_done = False
        self._aws_events = []
        if not hasattr(self, "_aws_new_event"):
            self._aws_new_event = asyncio.Event()
        try:
            choices = await self._choices()
            try:
                self._aws_role = resolve_role(choices, self.user_options)
            except RoleChoiceError:
                # A refused or stale choice is not kept as the next spawn's default (one-role people see no form).
                self.orm_spawner.user_options = {}
                self._commit()
                raise
            name = self._aws_role.get("display_name") or self._aws_role["access_group"]
            self._aws_event(10, f"Preparing AWS credentials for the role {name} ({self._aws_role['role_arn']})")
            # The broker reads the choice from the running server's user_options.
            self.user_options = {**(self.user_options or {}), ROLE_OPTION: self._aws_role["access_group"]}
            if len(choices) > 1:
                self.orm_spawner.user_options = self.user_options  # pre-selected in the form next time
                self._commit()
            if self.write_aws_config:
                region = self.aws_policy.deployment.aws_region
                write_file_atomically(self.aws_config_file, aws_config_text(self.helper_command, region))
            check = await self._check_through_broker()
            self._aws_event(30, f"AWS credentials for the role {name} are ready (valid until {check['expiration']})")
        finally:
            self._aws_done = True
            self._aws_new_event.set()
        return await super().start()

    def _commit(self):
        db = getattr(self, "db", None)
        if db is not None:
            db.commit()

    async def _check_through_broker(self) -> dict:
        role_name = self._aws_role.get("display_name") or self._aws_role["access_group"]
        url = self.broker_url.rstrip("/") + "/v1/check"
        if self.name:
            url += "?" + urlencode({"server": self.name})
        request = HTTPRequest(
            url,
            headers={"Authorization": f"token {self.api_token}"},
            connect_timeout=min(10, self.broker_check_timeout),
            request_timeout=self.broker_check_timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
            return json.loads(response.body)
        except HTTPClientError as e:
            reason, status = _broker_message(e), e.code if e.code in (403, 502, 503) else 503
        except OSError as e:
            reason = f"the credential broker could not be reached ({type(e).__name__}); tell your administrator"
            status = 503
        self.log.warning("Spawn of %s refused by the broker: %s", self._log_name, reason)
        message = f"AWS credentials for the role {role_name} could not be prepared: {reason}"
        raise AWSCredentialsUnavailable(message, status)

    # -- environment

    def get_env(self):
        env = super().get_env()
        for name in FORBIDDEN_VARIABLES:
            env.pop(name, None)
        role = getattr(self, "_aws_role", None)
        if role is not None:
            env.update(
                server_environment(
                    username=self.user.name,
                    role=role,
                    policy=self.aws_policy,
                    broker_url=self.broker_url_for_servers or self.broker_url,
                    aws_config_file=self.aws_config_file,
                    endpoint_url=self.aws_endpoint_url,
                    user_server_config_dir=self.user_server_config_dir,
                )
            )
        return env


def _broker_message(error: HTTPClientError) -> str:
    body = getattr(error.response, "body", None) if error.response is not None else None
    try:
        return json.loads(body)["message"]
    except (TypeError, ValueError, KeyError):
        if error.code == 599:
            return "the credential broker did not answer in time; tell your administrator"
        return f"the credential broker answered HTTP {error.code}; tell your administrator"


class BrokeredLocalProcessSpawner(BrokeredAWSMixin, SimpleLocalProcessSpawner):
    """Local processes, run as the hub's own OS user, with brokered AWS credentials (the local stack and the tests)."""

    @default("user_server_config_dir")
    def _default_user_server_config_dir(self):
        return str(USER_SERVER_CONFIG_DIR)


class BrokeredKubeSpawner(BrokeredAWSMixin, KubeSpawner):
    """KubeSpawner with brokered AWS credentials: the AWS config and the helper are mounted into the user pod."""

    @default("write_aws_config")
    def _default_write_aws_config(self):
        return False

    @default("aws_config_file")
    def _default_aws_config_file(self):
        return "/etc/jupyter/aws-config"

    @default("helper_command")
    def _default_helper_command(self):
        return "python3 -I /etc/jupyter/aws_credential_process.py"
