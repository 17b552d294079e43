"""The broker's settings: ``c.CredentialBroker.<trait>`` in the hub config, like every other setting of the hub.

``hub/config/20-credential-broker.py`` reads them from the hub config ``c`` (Helm: ``hub.config.CredentialBroker``),
so a bad value stops the hub at start-up, and hands the broker process the config sections it reads
(``CredentialBroker``, ``NotebookJobs``, ``AirflowApi``, ``AccessPolicyFile`` and ``RevocationStore``) as JSON in
one variable, :data:`CONFIG_VARIABLE`. The broker process (``python -m hub.broker``) builds the same objects from it.
Its other environment is JupyterHub's own ``JUPYTERHUB_*`` variables, the AWS SDK's standard ``AWS_*`` variables of
the broker's own identity, and the password of the hub's Airflow account (``hub.jobs.airflow_api.PASSWORD_VARIABLE``).

=========================  ===============================================================================
``ip``, ``port``           where the broker listens (127.0.0.1 and ``contract.DEFAULT_PORT``; 0.0.0.0 on Kubernetes)
``url``                    how the hub and the proxy reach it (``http://{ip}:{port}``)
``sts_endpoint_url``       STS endpoint override (default: the AWS SDK's own choice)
``cache_margin_seconds``   reuse credentials until this long before they expire (900)
``token_cache_seconds``    remember what a token's owner may have this long (30)
``sts_retry_seconds``      time budget for retrying STS throttling and transient errors (10)
``hub_timeout_seconds``    limit for each hub API request (10)
``chained_sessions``       ``auto`` (ask STS who the broker is), ``true`` or ``false``
``laptop_token_*``         laptop tokens: the longest lifetime allowed (30 days), the page's default (7)
``laptop_profile_prefix``  the AWS profile names the laptop page writes (``<prefix>-<access group>``)
=========================  ===============================================================================
"""

import json
import re
from collections.abc import Mapping
from urllib.parse import urlparse

from traitlets import Float, Integer, TraitError, Unicode, default, validate
from traitlets.config import Config, Configurable

from ..jobs.airflow_api import PASSWORD_VARIABLE as AIRFLOW_PASSWORD_VARIABLE
from .contract import DEFAULT_PORT

# The one variable through which the hub config reaches the broker process.
CONFIG_VARIABLE = "CREDENTIAL_BROKER_CONFIG"
# The config sections the broker process reads.
CONFIG_SECTIONS = ("CredentialBroker", "NotebookJobs", "AirflowApi", "AccessPolicyFile", "RevocationStore")
# What else the broker process gets from the hub's environment (JupyterHub adds its own JUPYTERHUB_* variables):
# the AWS SDK's standard variables of the broker's own identity, what Python and TLS need, and the password of the
# hub's Airflow account ("Run now" on the scheduled-runs page).
PASSED_PREFIXES = ("AWS_",)
PASSED_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    AIRFLOW_PASSWORD_VARIABLE,
)


def _at_least(trait: str, value: float, minimum: float, fix: str) -> float:
    if value < minimum:
        raise TraitError(f"CredentialBroker.{trait} must be at least {minimum} (got {value!r}): {fix}")
    return value


def _http_url(trait: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TraitError(f"CredentialBroker.{trait} must be an http:// or https:// URL with a host (got {value!r})")
    return value.rstrip("/")


class CredentialBroker(Configurable):
    """The AWS credential broker service. Configure as ``c.CredentialBroker.<trait>``."""

    ip = Unicode(
        "127.0.0.1",
        config=True,
        help="""
        The address the credential broker listens on. Default 127.0.0.1 (only the hub's own machine reaches it).
        On Kubernetes set 0.0.0.0, so that user servers reach it through the hub's Service, and set `url` to that
        Service's address. The broker listens here whatever `url` says.
        """,
    )

    @validate("ip")
    def _valid_ip(self, proposal):
        if not proposal.value.strip():
            raise TraitError("CredentialBroker.ip is empty: set the address to listen on (127.0.0.1 or 0.0.0.0)")
        return proposal.value.strip()

    port = Integer(
        DEFAULT_PORT,
        config=True,
        help=f"""
        The port the credential broker listens on, next to the hub's own 8081. Default {DEFAULT_PORT}. On
        Kubernetes the hub's Service must expose the same port (the Helm values do).
        """,
    )

    @validate("port")
    def _valid_port(self, proposal):
        if not 1 <= proposal.value <= 65535:
            raise TraitError(f"CredentialBroker.port must be a port number, 1 to 65535 (got {proposal.value!r})")
        return proposal.value

    url = Unicode(
        config=True,
        help="""
        How the hub and its proxy reach the credential broker: the URL of the hub-managed service, without its
        path. Default http://{ip}:{port}. On Kubernetes, where `ip` is 0.0.0.0, set it to the hub Service's
        address, for example http://hub:8181.
        """,
    )

    @default("url")
    def _default_url(self):
        return f"http://{self.ip}:{self.port}"

    @validate("url")
    def _valid_url(self, proposal):
        return _http_url("url", proposal.value)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # traitlets does not validate a value equal to the trait's empty static default; an empty url would leave
        # the service without a route.
        if not self.url:
            raise TraitError("CredentialBroker.url is empty: leave it unset for http://{ip}:{port}, or set the URL")

    sts_endpoint_url = Unicode(
        "",
        config=True,
        help="""
        The AWS STS endpoint the broker calls AssumeRole on. Default empty: the AWS SDK's own choice (its
        AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL variable, else the regional STS endpoint of the broker's region).
        Set it only for a VPC endpoint or a local stand-in.
        """,
    )

    @validate("sts_endpoint_url")
    def _valid_sts_endpoint_url(self, proposal):
        return _http_url("sts_endpoint_url", proposal.value) if proposal.value else ""

    cache_margin_seconds = Float(
        900,
        config=True,
        help="""
        Reuse a person's credentials until this many seconds before they expire, then mint new ones. Default 900,
        the time before expiry at which the AWS SDKs refresh credential_process credentials: with less, every SDK
        call would ask the broker again. Sessions shorter than twice this are reused for half their lifetime.
        """,
    )

    @validate("cache_margin_seconds")
    def _valid_cache_margin_seconds(self, proposal):
        return _at_least("cache_margin_seconds", proposal.value, 0, "set the seconds before expiry, e.g. 900")

    token_cache_seconds = Float(
        30,
        config=True,
        help="""
        Remember for this many seconds what a token's owner may have (their eligible roles, their server's role
        choice), so that a busy server does not make the hub decrypt auth_state on every call. Default 30. Whether
        the token itself is still valid is asked of the hub on every request: a stopped server's token, or a revoked
        one, gets nothing from that moment. A removal from an Entra ID group stops credentials after at most this
        plus the authenticator's `auth_refresh_age`. 0 asks the hub for everything on every request.
        """,
    )

    @validate("token_cache_seconds")
    def _valid_token_cache_seconds(self, proposal):
        return _at_least("token_cache_seconds", proposal.value, 0, "set 0 to ask the hub on every request")

    sts_retry_seconds = Float(
        10,
        config=True,
        help="""
        Time budget, in seconds, for retrying AssumeRole when STS throttles or fails transiently (the AWS SDK's
        standard retry mode, with as many attempts as fit the budget). Default 10. 0 makes one attempt. When the
        budget is spent the person gets a 503 saying STS is throttling, and may try again.
        """,
    )

    @validate("sts_retry_seconds")
    def _valid_sts_retry_seconds(self, proposal):
        return _at_least("sts_retry_seconds", proposal.value, 0, "set 0 for a single attempt")

    hub_timeout_seconds = Float(
        10,
        config=True,
        help="""
        Limit, in seconds, for each hub API request the broker makes (who a token belongs to, the person's roles).
        Default 10. When the hub does not answer in time, the person gets a 503 saying so.
        """,
    )

    @validate("hub_timeout_seconds")
    def _valid_hub_timeout_seconds(self, proposal):
        return _at_least("hub_timeout_seconds", proposal.value, 0.1, "set a few seconds, e.g. 10")

    chained_sessions = Unicode(
        "auto",
        config=True,
        help="""
        Whether the broker's own AWS identity is an assumed role, in which case AWS caps the sessions it mints at
        one hour (role chaining) and the broker asks for no more. `auto` (default) asks STS at start-up; `true` or
        `false` skips the question (for example where GetCallerIdentity is not allowed).
        """,
    )

    @validate("chained_sessions")
    def _valid_chained_sessions(self, proposal):
        value = proposal.value.strip().lower()
        if value not in ("auto", "true", "false"):
            raise TraitError(f"CredentialBroker.chained_sessions must be auto, true or false (got {proposal.value!r})")
        return value

    laptop_token_max_days = Integer(
        30,
        config=True,
        help="""
        The longest a laptop token may live, in days (the hub's page "Use AWS from your laptop" offers no more, and
        the broker refuses a laptop token made elsewhere, for example on the hub's token page, that lives longer or
        never expires). Default 30. A laptop token fetches its owner's AWS credentials, with the same membership
        re-check as a server, until it expires or its owner revokes it on the hub's token page.
        """,
    )

    @validate("laptop_token_max_days")
    def _valid_laptop_token_max_days(self, proposal):
        return int(_at_least("laptop_token_max_days", proposal.value, 1, "set the days a laptop token may live"))

    laptop_token_default_days = Integer(
        7,
        config=True,
        help="""
        The lifetime, in days, the hub's page "Use AWS from your laptop" proposes for a new token (a person may
        choose up to `laptop_token_max_days`; a larger value here is lowered to that). Default 7.
        """,
    )

    @validate("laptop_token_default_days")
    def _valid_laptop_token_default_days(self, proposal):
        return int(_at_least("laptop_token_default_days", proposal.value, 1, "set the days proposed, e.g. 7"))

    laptop_profile_prefix = Unicode(
        "jupyterhub",
        config=True,
        help="""
        The start of the AWS profile names the hub's page "Use AWS from your laptop" writes: `<prefix>-<access
        group>`, for example `jupyterhub-analysts`. Default `jupyterhub`; a site with several hubs names each, so that
        their profiles do not collide in a person's AWS config. Letters, digits, `-` and `_`.
        """,
    )

    @validate("laptop_profile_prefix")
    def _valid_laptop_profile_prefix(self, proposal):
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", proposal.value):
            raise TraitError(
                "CredentialBroker.laptop_profile_prefix must be 1-32 letters, digits, '-' or '_' "
                f"(got {proposal.value!r})"
            )
        return proposal.value


def process_config(config: Config) -> str:
    """The sections of the hub config the broker process reads, as the JSON of :data:`CONFIG_VARIABLE`."""
    return json.dumps({name: dict(config[name]) for name in CONFIG_SECTIONS if name in config}, sort_keys=True)


def load_process_config(text: str) -> Config:
    """The broker process's traitlets config, from :func:`process_config`'s JSON."""
    try:
        sections = json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise TraitError(f"{CONFIG_VARIABLE} is not JSON ({e}): start the broker from the hub config") from None
    return Config({name: sections[name] for name in CONFIG_SECTIONS if name in sections})


def process_environment(environ: Mapping[str, str], config: Config) -> dict[str, str]:
    """The broker process's environment: its AWS identity, what Python and TLS need, and its config. Nothing else
    of the hub's (a hub-managed service does not inherit the hub's environment; JupyterHub adds JUPYTERHUB_*)."""
    passed = {n: v for n, v in environ.items() if n in PASSED_NAMES or n.startswith(PASSED_PREFIXES)}
    return {**passed, CONFIG_VARIABLE: process_config(config)}
