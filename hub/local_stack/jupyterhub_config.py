# JupyterHub for the local stack (`make demo`, and the `hub` service of docker-compose.yml): the project's own
# hub/config files, loaded in name order as the chart loads them on Kubernetes, plus what one machine needs instead of
# a cluster: fixed ports, sqlite in the state folder, the local process spawner. Settings from the environment (the
# launcher, hub/local_stack/plan.py, or docker-compose.yml set them):
#   LOCAL_STACK_DIR             the hub's state folder: sqlite, cookie secret, people's home folders, the AWS config
#   LOCAL_STACK_HUB_PORT        the proxy's public port (8000)
#   LOCAL_STACK_HUB_IP          where the proxy listens (127.0.0.1; 0.0.0.0 in a container)
#   LOCAL_STACK_HUB_API_PORT    the hub's own port behind the proxy (8081)
#   LOCAL_STACK_PROXY_API_PORT  the proxy's REST API (8001); its token is CONFIGPROXY_AUTH_TOKEN
#   LOCAL_STACK_PROXY_COMMAND   configurable-http-proxy, started by the hub; empty: the proxy runs on its own
#   LOCAL_STACK_HUB_CONFIG_DIR  the folder of hub/config/*.py
#   LOCAL_STACK_SERVER_COMMAND  jupyterhub-singleuser, for people's servers
# plus everything hub/config/*.py reads (Entra ID, the access policy, the broker's AWS endpoint and keys).
import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"The local stack's hub cannot start: {name} is not set (start it with `make demo`)")
    return value


_state = Path(_required("LOCAL_STACK_DIR"))
_state.mkdir(parents=True, exist_ok=True)

c.JupyterHub.ip = os.environ.get("LOCAL_STACK_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("LOCAL_STACK_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("LOCAL_STACK_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('LOCAL_STACK_PROXY_API_PORT', '8001')}"
if os.environ.get("LOCAL_STACK_PROXY_COMMAND"):
    c.ConfigurableHTTPProxy.command = [os.environ["LOCAL_STACK_PROXY_COMMAND"]]
else:
    c.ConfigurableHTTPProxy.should_start = False  # docker-compose.yml runs the proxy as a service of its own
c.JupyterHub.db_url = f"sqlite:///{_state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(_state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(_state / "jupyterhub.pid")
# Stopping the hub stops people's servers (the launcher stops the hub on Ctrl-C).
c.JupyterHub.cleanup_servers = True
# As on Kubernetes (helm/values.yaml): admins manage servers but do not open other people's.
c.JupyterHub.admin_access = False

for _file in sorted(Path(_required("LOCAL_STACK_HUB_CONFIG_DIR")).glob("*.py")):
    load_subconfig(str(_file))  # noqa: F821 - provided by JupyterHub's config loader

# People's servers: local processes (hub.spawn.BrokeredLocalProcessSpawner, from 30-spawner.py), JupyterLab with
# notebooks in S3 (the moto server) and brokered credentials.
c.Spawner.cmd = [_required("LOCAL_STACK_SERVER_COMMAND")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.SimpleLocalProcessSpawner.home_dir_template = str(_state / "homes" / "{username}")
c.BrokeredAWSMixin.aws_config_file = str(_state / "aws" / "config")
if os.geteuid() == 0:  # containers and CI machines run as root; Jupyter refuses that without the flag
    c.Spawner.args = ["--allow-root"]
