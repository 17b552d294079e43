"""A JupyterHub on one machine, as the local stack (`make demo`, docker-compose.yml) and the integration tests run it:
the project's hub/config files, loaded in name order as the chart loads them on Kubernetes, plus what one machine
needs instead of a cluster (fixed or given ports, sqlite in a state folder, local processes as people's servers).

One definition for every single-machine hub: ``hub/local_stack/jupyterhub_config.py`` and the tests' hub config call
these functions with their own values. Settings go in as traits, exactly as a deployment's hub config sets them.
"""

import os
from pathlib import Path

from traitlets.config import Config

LOCAL_SPAWNER = "hub.spawn.BrokeredLocalProcessSpawner"
# In the hub's state folder: the pid of the proxy the hub started (the proxy runs in a session of its own).
PROXY_PID_FILE = "jupyterhub-proxy.pid"
# The hub's secrets that its proxy has no use for: JupyterHub starts configurable-http-proxy with a copy of the hub's
# whole environment (plus the proxy's own token), so they are removed from it on the way.
NOT_FOR_THE_PROXY = (
    "OAUTH_CLIENT_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "NOTEBOOK_SCHEDULER_TOKEN",
)


def configure_hub(
    c: Config,
    *,
    state: Path,
    ip: str,
    port: int,
    hub_api_port: int,
    proxy_api_port: int,
    proxy_command: str,
    server_command: str,
) -> None:
    """Ports, state files and people's servers (local processes) of a hub on this machine."""
    state.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.ip = ip
    c.JupyterHub.port = port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_api_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
    # JupyterHub records the proxy it starts here and removes the file when it stops it; a hub that dies before that
    # leaves the file, and whoever started the hub stops that proxy too (proxy_left_behind).
    c.ConfigurableHTTPProxy.pid_file = str(state / PROXY_PID_FILE)
    if proxy_command:
        without = [option for name in NOT_FOR_THE_PROXY for option in ("-u", name)]
        c.ConfigurableHTTPProxy.command = ["env", *without, proxy_command]
    else:
        c.ConfigurableHTTPProxy.should_start = False  # the proxy runs on its own (docker-compose.yml)
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    # Stopping the hub stops people's servers.
    c.JupyterHub.cleanup_servers = True
    c.Spawner.cmd = [server_command]
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.SimpleLocalProcessSpawner.home_dir_template = str(state / "homes" / "{username}")
    if os.geteuid() == 0:  # containers and CI machines run as root; Jupyter refuses that without the flag
        c.Spawner.args = ["--allow-root"]


def configure_entra(
    c: Config,
    *,
    authority: str,
    graph_url: str,
    tenant_id: str,
    client_id: str,
    callback_url: str,
    ca_bundle: str,
    strip_domains: list[str],
) -> None:
    """Sign-in through an Entra ID (the emulator, on this machine): the settings a deployment gives in hub.config."""
    c.EntraIDOAuthenticator.authority = authority
    c.EntraIDOAuthenticator.microsoft_graph_url = graph_url
    c.EntraIDOAuthenticator.tenant_id = tenant_id
    c.EntraIDOAuthenticator.client_id = client_id
    c.EntraIDOAuthenticator.oauth_callback_url = callback_url
    c.EntraIDOAuthenticator.tls_ca_bundle = ca_bundle
    c.EntraIDOAuthenticator.username_strip_domains = strip_domains


def configure_brokering(
    c: Config, *, state: Path, policy_file: Path, broker_port: int, aws_endpoint_url: str, airflow_url: str = ""
) -> None:
    """The access policy, the credential broker on this machine, brokered local servers, and where "Run now" asks
    Airflow (none: the scheduled-runs page says so)."""
    c.AccessPolicyFile.path = str(policy_file)
    c.AirflowApi.url = airflow_url
    c.CredentialBroker.port = broker_port
    c.JupyterHub.spawner_class = LOCAL_SPAWNER
    c.BrokeredAWSMixin.aws_endpoint_url = aws_endpoint_url
    c.BrokeredAWSMixin.aws_config_file = str(state / "aws" / "config")


def load_hub_config_files(c: Config, config_dir: Path, only=None) -> None:
    """The project's hub/config files in name order, after the settings, the way the chart runs jupyterhub_config.d:
    each file executed with this same ``c`` (traitlets' ``load_subconfig`` would give each file an empty one, so a
    file could not read what was set before it)."""
    for path in sorted(Path(config_dir).glob("*.py")):
        if only is None or path.name in only:
            exec(compile(path.read_text(), str(path), "exec"), {"c": c, "__file__": str(path)})  # noqa: S102


def proxy_left_behind(state: Path):
    """The proxy a hub started and did not stop (it died first), as a psutil.Process, or None.

    JupyterHub starts configurable-http-proxy in a session of its own, so it is not in the hub's process tree once the
    hub is gone; its pid file is. The pid must still be a configurable-http-proxy (pids are reused)."""
    import psutil

    try:
        process = psutil.Process(int((state / PROXY_PID_FILE).read_text().strip()))
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return process if alive and any("configurable-http-proxy" in part for part in process.cmdline()) else None
    except (OSError, ValueError, psutil.Error):
        return None
