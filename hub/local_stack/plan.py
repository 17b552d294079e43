"""What the local stack runs, as pure functions from settings to commands, environments and text (no I/O).

:func:`settings_from_env` reads and checks the ``LOCAL_STACK_*`` variables; :func:`new_secrets` makes the run's
throwaway secrets; the ``*_command`` and ``*_environment`` builders say how each server starts;
:func:`terraform_variables` is what the Terraform example gets to apply to the moto server; :func:`demo_people` and
:func:`banner` say who can sign in and what each should see. The launcher (``launcher.py``) does the I/O.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from authenticator.access_policy import AccessPolicy
from authenticator.entra import hub_username
from hub.broker.contract import DEFAULT_PORT, JOBS_PAGE_PATH, SCHEDULER_TOKEN_ENV, SERVICE_PREFIX
from hub.jobs.airflow_api import PASSWORD_VARIABLE as AIRFLOW_PASSWORD_VARIABLE
from scheduler.local_airflow import ADMIN_USER as AIRFLOW_ADMIN
from scheduler.local_airflow import AirflowSecrets, AirflowSettings

REPO = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO / "hub" / "demo" / "access-policy.yaml"
DEMO_DIRECTORY = REPO / "hub" / "demo" / "entra-directory.yaml"
HUB_CONFIG = REPO / "hub" / "local_stack" / "jupyterhub_config.py"
# The demo directory's people sign in as name@contoso.example and become hub user `name`.
STRIP_DOMAINS = ("contoso.example",)
# A fixed app registration id, so that the README can name it; the secret is new at every start.
CLIENT_ID = "7d1d1e0b-9a5e-4a57-9c8a-2f0d6d3c1b2a"
# Microsoft's limit: above this many groups the id_token carries no group list (overage).
GROUPS_CLAIM_LIMIT = 200
PAGE_PATH = f"{SERVICE_PREFIX}access"
JOBS_PATH = f"{SERVICE_PREFIX}{JOBS_PAGE_PATH}"

# name: (environment variable, default)
PORTS = {
    "hub": ("LOCAL_STACK_HUB_PORT", 8000),
    "entra": ("LOCAL_STACK_ENTRA_PORT", 8443),
    "moto": ("LOCAL_STACK_MOTO_PORT", 5000),
    "hub_api": ("LOCAL_STACK_HUB_API_PORT", 8081),
    "proxy_api": ("LOCAL_STACK_PROXY_API_PORT", 8001),
    "broker": ("LOCAL_STACK_BROKER_PORT", DEFAULT_PORT),
    "airflow": ("LOCAL_STACK_AIRFLOW_PORT", 8280),
}


class LocalStackError(Exception):
    """The local stack cannot start; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    ports: dict[str, int]
    password: str | None  # None: a new one is made for this run
    terraform: str  # the terraform executable (name or path)
    tf_plugin_dir: str  # a provider mirror for `terraform init -plugin-dir`, or ""

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['hub']}"

    @property
    def entra_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['entra']}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['moto']}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['airflow']}"

    @property
    def broker_url(self) -> str:
        """The broker as Airflow reaches it on this machine: directly, not through the proxy."""
        return f"http://127.0.0.1:{self.ports['broker']}{SERVICE_PREFIX}"

    @property
    def callback_url(self) -> str:
        return f"{self.hub_url}/hub/oauth_callback"

    @property
    def login_url(self) -> str:
        """Where sign-out returns; Entra follows post_logout_redirect_uri only to a registered redirect URI."""
        return f"{self.hub_url}/hub/login"


def settings_from_env(env=None, cwd: Path | None = None) -> Settings:
    env = os.environ if env is None else env
    ports = {}
    for name, (variable, default) in PORTS.items():
        raw = env.get(variable, "").strip()
        if not raw:
            ports[name] = default
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise LocalStackError(f"{variable}={raw!r} is not a port number (1-65535); unset it to use {default}")
        ports[name] = int(raw)
    clashes = sorted({p for p in ports.values() if list(ports.values()).count(p) > 1})
    if clashes:
        names = ", ".join(PORTS[n][0] for n, p in ports.items() if p in clashes)
        raise LocalStackError(f"{names} all use port {clashes[0]}: give each server its own port")
    password = env.get("LOCAL_STACK_DEMO_PASSWORD", "").strip() or None
    if password is not None and len(password) < 8:
        raise LocalStackError("LOCAL_STACK_DEMO_PASSWORD must be at least 8 characters (or unset: one is made up)")
    state_dir = Path(env.get("LOCAL_STACK_DIR", "").strip() or (cwd or REPO) / ".local-stack")
    return Settings(
        state_dir=state_dir if state_dir.is_absolute() else (cwd or REPO) / state_dir,
        ports=ports,
        password=password,
        terraform=env.get("TERRAFORM", "").strip() or "terraform",
        tf_plugin_dir=env.get("TF_PLUGIN_DIR", "").strip(),
    )


@dataclass(frozen=True)
class Secrets:
    """Made up at every start, handed to the servers through their environment, never written to a file or log."""

    password: str  # every demo person's password (printed once, for the person running the demo)
    client_secret: str  # the emulated app registration's client secret
    crypt_key: str  # JUPYTERHUB_CRYPT_KEY (auth_state)
    proxy_token: str  # CONFIGPROXY_AUTH_TOKEN
    aws_access_key_id: str  # throwaway keys for the moto server (its authorization checks are off)
    aws_secret_access_key: str
    scheduler_token: str  # the notebook scheduler's (Airflow's) hub service token: it may only start due runs
    airflow: AirflowSecrets  # Airflow's own keys, its admin's password and the hub's Airflow account's password

    def __repr__(self) -> str:
        return "Secrets(<redacted>)"

    def values(self) -> tuple[str, ...]:
        return (
            self.password,
            self.client_secret,
            self.crypt_key,
            self.proxy_token,
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.scheduler_token,
            *self.airflow.values(),
        )


def new_secrets(password: str | None = None) -> Secrets:
    return Secrets(
        password=password or f"demo-{secrets.token_urlsafe(9)}",
        client_secret=secrets.token_urlsafe(32),
        crypt_key=secrets.token_hex(32),
        proxy_token=secrets.token_hex(32),
        aws_access_key_id="AKIALOCALSTACK" + secrets.token_hex(3).upper(),
        aws_secret_access_key=secrets.token_urlsafe(30),
        scheduler_token=secrets.token_hex(32),
        airflow=AirflowSecrets.new(),
    )


# ---- how each server starts -------------------------------------------------------------------------------------


def _base_environment(env) -> dict:
    """The launcher's own environment minus anything that would give a server another identity or CA."""
    dropped = ("AWS_", "BROKER_", "JUPYTERHUB_", "ENTRA_", "OAUTH_", "CONFIGPROXY_", "REQUESTS_CA_BUNDLE", "TF_VAR_")
    return {k: v for k, v in env.items() if not k.startswith(dropped)}


def emulator_command(python: str, settings: Settings) -> list[str]:
    return [
        python, "-m", "entra_emulator",
        "--directory", str(DEMO_DIRECTORY),
        "--state-dir", str(settings.state_dir / "entra"),
        "--host", "127.0.0.1",
        "--port", str(settings.ports["entra"]),
        "--client-id", CLIENT_ID,
        "--redirect-uri", settings.callback_url,
        "--redirect-uri", settings.login_url,
    ]  # fmt: skip


def emulator_environment(env, the: Secrets) -> dict:
    return {
        **_base_environment(env),
        "PYTHONPATH": str(REPO),
        "ENTRA_EMULATOR_CLIENT_SECRET": the.client_secret,
        "ENTRA_EMULATOR_PASSWORD": the.password,
    }


def moto_command(python: str, settings: Settings) -> list[str]:
    return [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(settings.ports["moto"])]


def moto_environment(env) -> dict:
    # No authorization checks (moto's default): the broker and Terraform use throwaway keys.
    return {**_base_environment(env), "MOTO_ALLOW_NONEXISTENT_REGION": "false"}


def terraform_variables(settings: Settings, policy: AccessPolicy) -> dict:
    """The Terraform example's variables for the moto server (terraform/examples/complete/variables.tf)."""
    account = policy.deployment.aws_account_id
    return {
        "access_policy_file": str(DEMO_POLICY),
        "aws_endpoints": {"iam": settings.moto_url, "sts": settings.moto_url, "s3": settings.moto_url},
        # The broker role's IRSA trust names a cluster's OIDC provider; the local stack has no cluster, so this one
        # is named but never used (the broker runs with throwaway moto keys instead).
        "oidc_provider_arn": f"arn:aws:iam::{account}:oidc-provider/oidc.local-stack.invalid",
        "oidc_provider_url": "https://oidc.local-stack.invalid",
        # moto reads the TLS-only bucket policy as deny-all (see the variable's description).
        "notebook_bucket_deny_insecure_transport": False,
    }


def terraform_environment(env, the: Secrets) -> dict:
    """Terraform's environment: the throwaway moto keys, no prompts, no update checks."""
    base = _base_environment(env)
    cli_config = env.get("TF_CLI_CONFIG_FILE", "")
    if cli_config and not Path(cli_config).is_file():
        base["TF_CLI_CONFIG_FILE"] = os.devnull  # some machines point it at a missing file
    return {
        **base,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "AWS_ACCESS_KEY_ID": the.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": the.aws_secret_access_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def hub_command(python: str) -> list[str]:
    return [python, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]


def hub_environment(env, settings: Settings, the: Secrets, emulator: dict, policy: AccessPolicy, python: str) -> dict:
    """Everything hub/local_stack/jupyterhub_config.py and the hub/config files read (``emulator``: its ready file)."""
    bin_dir = Path(python).parent
    return {
        **_base_environment(env),
        "PYTHONPATH": str(REPO),
        # hub/local_stack/jupyterhub_config.py: the settings a deployment gives in hub.config, for this machine.
        "LOCAL_STACK_DIR": str(settings.state_dir / "hub"),
        "LOCAL_STACK_HUB_PORT": str(settings.ports["hub"]),
        "LOCAL_STACK_HUB_API_PORT": str(settings.ports["hub_api"]),
        "LOCAL_STACK_PROXY_API_PORT": str(settings.ports["proxy_api"]),
        "LOCAL_STACK_PROXY_COMMAND": str(REPO / "node_modules" / ".bin" / "configurable-http-proxy"),
        "LOCAL_STACK_BROKER_PORT": str(settings.ports["broker"]),
        "LOCAL_STACK_HUB_CONFIG_DIR": str(REPO / "hub" / "config"),
        "LOCAL_STACK_SERVER_COMMAND": str(bin_dir / "jupyterhub-singleuser"),
        "LOCAL_STACK_POLICY_FILE": str(DEMO_POLICY),
        "LOCAL_STACK_MOTO_URL": settings.moto_url,
        "LOCAL_STACK_ENTRA_URL": emulator["url"],
        "LOCAL_STACK_GRAPH_URL": emulator["graph_url"],
        "LOCAL_STACK_ENTRA_CA_BUNDLE": emulator["ca_path"],
        "LOCAL_STACK_ENTRA_TENANT_ID": emulator["tenant_id"],
        "LOCAL_STACK_ENTRA_CLIENT_ID": CLIENT_ID,
        "LOCAL_STACK_USERNAME_STRIP_DOMAINS": ",".join(STRIP_DOMAINS),
        # Secrets: the emulated app registration's, auth_state's key, the proxy's token, and the broker's AWS (the
        # moto server with throwaway keys; hub/config/20-credential-broker.py passes AWS_* to the broker only).
        "OAUTH_CLIENT_SECRET": the.client_secret,
        "JUPYTERHUB_CRYPT_KEY": the.crypt_key,
        "CONFIGPROXY_AUTH_TOKEN": the.proxy_token,
        "AWS_ENDPOINT_URL": settings.moto_url,
        "AWS_ACCESS_KEY_ID": the.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": the.aws_secret_access_key,
        "AWS_REGION": policy.deployment.aws_region,
        # Scheduled runs: the scheduler's token (the hub registers the service with it) and where Airflow's API is,
        # with the password of the hub's account there (for "Run now"; the broker gets it).
        SCHEDULER_TOKEN_ENV: the.scheduler_token,
        "LOCAL_STACK_AIRFLOW_URL": settings.airflow_url,
        AIRFLOW_PASSWORD_VARIABLE: the.airflow.hub_password,
    }


def airflow_settings(settings: Settings, the: Secrets) -> AirflowSettings:
    """Airflow (scheduler/local_airflow.py) in the state folder, reaching the broker directly."""
    return AirflowSettings(
        home=settings.state_dir / "airflow",
        api_port=settings.ports["airflow"],
        broker_url=settings.broker_url,
        scheduler_token=the.scheduler_token,
    )


# ---- who can sign in, and what they should see ------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    sign_in: str  # what to type on the sign-in page
    name: str  # display name
    hub_name: str
    sees: str  # what they should see, in one sentence


def describe_person(sign_in: str, name: str, group_ids: list[str], filler_groups: int, policy: AccessPolicy) -> str:
    decision = policy.decide(group_ids)
    roles = [g.display_name for g in decision.groups]
    if not decision.allowed:
        return "is refused: a page says they are in no group that grants access, and names the groups that do"
    if decision.admin:
        text = f"is a hub admin ({', '.join(roles)}): the Admin page, and anyone's access page"
    elif len(roles) > 1:
        text = f"picks a role ({' or '.join(roles)}) in a form before the server starts"
    else:
        text = f"gets a server with the role {roles[0]} at once"
    if len(group_ids) + filler_groups > GROUPS_CLAIM_LIMIT:
        text += (
            f"; in {len(group_ids) + filler_groups} groups, so the sign-in token has no group list and the hub reads "
            "them from Microsoft Graph"
        )
    if "#ext#" in sign_in.lower():
        text += "; a guest from another organization"
    return text


def demo_people(directory, policy: AccessPolicy) -> list[DemoPerson]:
    """The emulator directory's people, each with what they should see (from the access policy's decisions)."""
    return [
        DemoPerson(
            sign_in=p.sign_in_name,
            name=p.name,
            hub_name=hub_username(p.username, STRIP_DOMAINS),
            sees=describe_person(p.username, p.name, p.group_ids, p.filler_groups, policy),
        )
        for p in directory.people.values()
    ]


def banner(
    settings: Settings, password: str, people: list[DemoPerson], policy: AccessPolicy, airflow_password: str
) -> str:
    lines = [
        "",
        f"The local stack is running: open {settings.hub_url} in a browser on this machine.",
        "",
        'Click "Sign in with Microsoft Entra ID" and sign in as one of these people of the emulated Contoso tenant.',
        f"Everyone's password for this run: {password}",
        "",
    ]
    for p in people:
        lines += [f"  {p.sign_in}  ({p.name}; hub name {p.hub_name})", f"      {p.sees}"]
    lines += [
        "",
        f"Notebooks are saved in s3://{policy.deployment.notebook_bucket}/{policy.deployment.home_prefix}<hub name>/ "
        f"on the moto server ({settings.moto_url}).",
        f'"What can I access?" is linked from the home page: {settings.hub_url}{PAGE_PATH}',
        f'"Scheduled runs" too: {settings.hub_url}{JOBS_PATH}; they run on Airflow, whose UI (for admins) is at '
        f"{settings.airflow_url} (user {AIRFLOW_ADMIN}, password {airflow_password})",
        f"Logs: {settings.state_dir}/*.log",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return "\n".join(lines)
