# JupyterHub for the local stack (`make demo`, and the `hub` service of docker-compose.yml): the settings a deployment
# gives in its Helm values (hub.config), here for one machine, then the project's hub/config files. Values come from
# the environment the launcher (hub/local_stack/plan.py, hub_environment) or docker-compose.yml sets:
#   LOCAL_STACK_DIR             the hub's state folder: sqlite, cookie secret, people's home folders, the AWS config
#   LOCAL_STACK_HUB_IP          where the proxy listens (127.0.0.1; 0.0.0.0 in a container)
#   LOCAL_STACK_HUB_PORT        the proxy's public port (8000)
#   LOCAL_STACK_HUB_API_PORT    the hub's own port behind the proxy (8081)
#   LOCAL_STACK_PROXY_API_PORT  the proxy's REST API (8001); its token is CONFIGPROXY_AUTH_TOKEN
#   LOCAL_STACK_PROXY_COMMAND   configurable-http-proxy, started by the hub; empty: the proxy runs on its own
#   LOCAL_STACK_BROKER_PORT     the credential broker (8181)
#   LOCAL_STACK_HUB_CONFIG_DIR  the folder of hub/config/*.py
#   LOCAL_STACK_SERVER_COMMAND  jupyterhub-singleuser, for people's servers
#   LOCAL_STACK_POLICY_FILE     the access policy (hub/demo/access-policy.yaml)
#   LOCAL_STACK_MOTO_URL        the moto server: AWS for the broker and for people's servers
#   LOCAL_STACK_ENTRA_URL, LOCAL_STACK_GRAPH_URL, LOCAL_STACK_ENTRA_CA_BUNDLE, LOCAL_STACK_ENTRA_TENANT_ID,
#   LOCAL_STACK_ENTRA_CLIENT_ID, LOCAL_STACK_USERNAME_STRIP_DOMAINS   the Entra ID emulator and its app registration
#   LOCAL_STACK_AIRFLOW_URL     Airflow's API, for "Run now" on the scheduled-runs page (optional)
# and the secrets: OAUTH_CLIENT_SECRET, JUPYTERHUB_CRYPT_KEY, CONFIGPROXY_AUTH_TOKEN, the broker's AWS_* keys,
# NOTEBOOK_SCHEDULER_TOKEN (Airflow's hub token) and AIRFLOW_API_PASSWORD (the hub's Airflow account).
import os
import sys
from pathlib import Path

# single_machine.py sits beside this file (the hub image's `hub` package does not include the local stack).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from single_machine import configure_brokering, configure_entra, configure_hub, load_hub_config_files

from hub.broker.contract import DEFAULT_PORT

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader


def _setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip() or default
    if value is None:
        raise SystemExit(f"The local stack's hub cannot start: {name} is not set (start it with `make demo`)")
    return value


_state = Path(_setting("LOCAL_STACK_DIR"))
_hub_port = int(_setting("LOCAL_STACK_HUB_PORT", "8000"))
configure_hub(
    c,
    state=_state,
    ip=_setting("LOCAL_STACK_HUB_IP", "127.0.0.1"),
    port=_hub_port,
    hub_api_port=int(_setting("LOCAL_STACK_HUB_API_PORT", "8081")),
    proxy_api_port=int(_setting("LOCAL_STACK_PROXY_API_PORT", "8001")),
    proxy_command=os.environ.get("LOCAL_STACK_PROXY_COMMAND", ""),
    server_command=_setting("LOCAL_STACK_SERVER_COMMAND"),
)
configure_entra(
    c,
    authority=_setting("LOCAL_STACK_ENTRA_URL"),
    graph_url=_setting("LOCAL_STACK_GRAPH_URL"),
    tenant_id=_setting("LOCAL_STACK_ENTRA_TENANT_ID"),
    client_id=_setting("LOCAL_STACK_ENTRA_CLIENT_ID"),
    callback_url=f"http://127.0.0.1:{_hub_port}/hub/oauth_callback",
    ca_bundle=_setting("LOCAL_STACK_ENTRA_CA_BUNDLE"),
    strip_domains=[d for d in _setting("LOCAL_STACK_USERNAME_STRIP_DOMAINS", "").split(",") if d],
)
configure_brokering(
    c,
    state=_state,
    policy_file=Path(_setting("LOCAL_STACK_POLICY_FILE")),
    broker_port=int(_setting("LOCAL_STACK_BROKER_PORT", str(DEFAULT_PORT))),
    aws_endpoint_url=_setting("LOCAL_STACK_MOTO_URL"),
    airflow_url=os.environ.get("LOCAL_STACK_AIRFLOW_URL", ""),
)
load_hub_config_files(c, Path(_setting("LOCAL_STACK_HUB_CONFIG_DIR")))
