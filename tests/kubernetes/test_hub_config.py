"""The hub's configuration as the chart loads it: the chart's jupyterhub_config.py (stand-in), hub.config, then the
mounted jupyterhub_config.d files, all run by JupyterHub's own config loader with the hub container's environment."""

import json
import os
import subprocess
import sys

import pytest
from jupyterhub.app import JupyterHub

from hub.broker.contract import DEFAULT_PORT, ISSUE_SCOPE, LAPTOP_SCOPE, SERVICE_NAME, SERVICE_PREFIX
from hub.kubernetes_secrets import create_env_secret, move_secret_env
from tests.kubernetes.chart import CHART_SECRETS, ETC, REPO
from tests.kubernetes.conftest import BROKER_ROLE_ARN, ENTRA_CLIENT_SECRET, IRSA_ENV, SITE_ARGS
from tests.kubernetes.fakes import FakeSpawner, RecordingCoreV1Api, user_pod

pytestmark = pytest.mark.kubernetes


def roles(app) -> dict:
    return {role["name"]: role for role in app.load_roles}


def services(app) -> dict:
    return {service["name"]: service for service in app.services}


# Run in a fresh process with the container's environment: oauthenticator reads OAUTH_CALLBACK_URL when it is imported.
AUTHENTICATOR_PROBE = """
import json, sys
from jupyterhub.app import JupyterHub
app = JupyterHub()
app.load_config_file(sys.argv[1])
a = app.authenticator_class(config=app.config)  # runs its start-up checks
print(json.dumps({name: getattr(a, name) for name in sys.argv[2:]} | {"class": type(a).__name__}))
"""


def test_sign_in_is_the_entra_id_authenticator_with_the_deployment_settings(hub_app, hub_pod):
    assert hub_app.config.JupyterHub.authenticator_class == "entra-id"
    names = ["tenant_id", "client_id", "client_secret", "oauth_callback_url"]
    names += ["enable_auth_state", "refresh_pre_spawn", "auth_refresh_age"]
    probe = subprocess.run(
        [sys.executable, "-c", AUTHENTICATOR_PROBE, str(hub_pod.config_file), *names],
        env={**os.environ, "PYTHONPATH": str(REPO)},  # the fixture made this process's environment the container's
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout.splitlines()[-1]) == {
        "class": "EntraIDOAuthenticator",
        "tenant_id": SITE_ARGS["entra_tenant_id"],
        "client_id": SITE_ARGS["entra_client_id"],
        "client_secret": ENTRA_CLIENT_SECRET,
        "oauth_callback_url": "https://hub.example.com/hub/oauth_callback",
        "enable_auth_state": True,
        "refresh_pre_spawn": True,
        "auth_refresh_age": 300,
    }
    # The authenticator loaded the policy from where the chart mounts it (it refuses to start otherwise).
    assert hub_app.config.AccessPolicyFile.path == str(hub_pod.root / ETC / "access-policy" / "access-policy.yaml")


def test_auth_state_is_encrypted_with_the_key_the_chart_keeps(hub_app, hub_pod):
    assert hub_app.config.CryptKeeper["keys"] == [CHART_SECRETS["hub.config.CryptKeeper.keys"]]
    assert hub_pod.env["JUPYTERHUB_CRYPT_KEY"] == CHART_SECRETS["hub.config.CryptKeeper.keys"]


def test_hub_admins_hold_the_hub_admin_role_and_no_one_jupyterhubs_admin_role(hub_app):
    """Hub admins run the hub without becoming other people: no access to servers, tokens or auth_state."""
    hub_admin = roles(hub_app)["hub-admin"]
    assert hub_admin["groups"] == ["platform-admins"]  # the demo policy's hub_admin access group
    assert "access:servers" not in hub_admin["scopes"]
    assert not {"admin:users", "admin:auth_state", "tokens", "shares", "proxy"} & set(hub_admin["scopes"])
    assert roles(hub_app)["admin"] == {"name": "admin", "users": [], "groups": []}
    assert "admin_access" not in hub_app.config.JupyterHub, "gone since JupyterHub 2: HubAdmins replaces it"


def test_the_broker_is_a_hub_managed_service_with_the_irsa_identity_and_no_hub_secrets(hub_app, hub_pod):
    assert sorted(services(hub_app)) == [SERVICE_NAME, "jupyterhub-idle-culler", "notebook-scheduler"]
    broker = services(hub_app)[SERVICE_NAME]
    # The proxy routes the broker's page to this URL: the hub Service's broker port (the broker listens on 0.0.0.0).
    assert broker["url"] == f"http://hub:{DEFAULT_PORT}"
    assert broker["command"] == [sys.executable, "-m", "hub.broker"]
    assert broker["display"] is False
    environment = broker["environment"]
    assert environment["AWS_ROLE_ARN"] == BROKER_ROLE_ARN == IRSA_ENV["AWS_ROLE_ARN"]
    assert environment["AWS_WEB_IDENTITY_TOKEN_FILE"] == IRSA_ENV["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert environment["AWS_REGION"] == "us-east-1"
    assert environment["AWS_EC2_METADATA_DISABLED"] == "true"
    leaked = {name for name, value in environment.items() if value in (ENTRA_CLIENT_SECRET, *CHART_SECRETS.values())}
    assert leaked == set(), "the broker gets none of the hub's secrets"


def test_servers_tokens_carry_the_broker_scope_for_their_owner_only(hub_app):
    assert ISSUE_SCOPE in hub_app.custom_scopes
    assert f"{ISSUE_SCOPE}!server" in roles(hub_app)["server"]["scopes"]  # its own server only
    assert f"{ISSUE_SCOPE}!user" in roles(hub_app)["user"]["scopes"]
    assert roles(hub_app)["aws-credential-broker"]["services"] == [SERVICE_NAME]
    assert roles(hub_app)["aws-credential-broker"]["scopes"] == [
        "read:users",
        "read:servers",
        "admin:auth_state",
        "tokens",  # a laptop token's note and expiry (read:tokens), scheduled runs' tokens
    ]
    assert roles(hub_app)["jupyterhub-idle-culler"]["services"] == ["jupyterhub-idle-culler"]


def test_people_may_make_laptop_tokens_on_the_hubs_own_page(hub_app):
    assert LAPTOP_SCOPE in hub_app.custom_scopes
    assert f"{LAPTOP_SCOPE}!user" in roles(hub_app)["user"]["scopes"]  # for themselves only
    assert [handler[0] for handler in hub_app.extra_handlers] == [
        "/aws-laptop",
        r"/aws-laptop/aws_credential_process\.py",
    ]


def test_user_servers_are_brokered_kubespawner_pods_with_the_secret_hooks(hub_app):
    assert hub_app.config.JupyterHub.spawner_class == "hub.spawn.BrokeredKubeSpawner"
    assert hub_app.config.KubeSpawner.modify_pod_hook is move_secret_env
    assert hub_app.config.KubeSpawner.after_pod_created_hook is create_env_secret
    assert hub_app.config.KubeSpawner.automount_service_account_token is False
    assert "broker_url" not in hub_app.config.BrokeredAWSMixin, "the default: the broker in the hub's own pod"
    assert hub_app.config.BrokeredAWSMixin.broker_url_for_servers == f"http://hub:{DEFAULT_PORT}{SERVICE_PREFIX}"
    assert hub_app.config.KubeSpawner.image == SITE_ARGS["user_image"]


def test_a_config_file_calling_get_config_would_stop_the_charts_hub(hub_pod):
    """Why hub/config/*.py use `c` directly: the chart runs them where get_config is its own helper, get_config(key)."""
    extra = hub_pod.root / ETC / "jupyterhub_config.d" / "99-get-config.py"
    extra.write_text("c = get_config()\n")
    with pytest.raises(TypeError, match=r"get_config\(\) missing 1 required positional argument: 'key'"):
        JupyterHub().load_config_file(str(hub_pod.config_file))
    assert not [p.name for p in (REPO / "hub" / "config").glob("*.py") if "get_config(" in p.read_text()]


KUBERNETES_CONFIG = REPO / "hub" / "config" / "40-kubernetes.py"


async def test_the_kubernetes_settings_are_ignored_by_the_local_spawner(tmp_path):
    """40-kubernetes.py configures KubeSpawner unconditionally; a local process spawner never reads that section."""
    from traitlets.config import Config

    from hub.spawn import BrokeredLocalProcessSpawner

    config = Config()
    exec(compile(KUBERNETES_CONFIG.read_text(), str(KUBERNETES_CONFIG), "exec"), {"c": config})  # noqa: S102
    assert config.KubeSpawner.modify_pod_hook is move_secret_env
    spawner = BrokeredLocalProcessSpawner(config=config)
    assert not hasattr(spawner, "modify_pod_hook") and not hasattr(spawner, "automount_service_account_token")


async def test_an_earlier_pod_hook_still_runs_before_ours(tmp_path, api_client):
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()\n"
        "c.JupyterHub.spawner_class = 'kubespawner.KubeSpawner'\n"
        "def earlier(spawner, pod):\n"
        "    pod.metadata.labels['seen-by'] = 'earlier'\n"
        "    return pod\n"
        "c.KubeSpawner.modify_pod_hook = earlier\n"
        f"exec(open({str(KUBERNETES_CONFIG)!r}).read())  # in this namespace, as the chart does\n"
    )
    app = JupyterHub()
    app.load_config_file(str(config))
    spawner = FakeSpawner(RecordingCoreV1Api(api_client))
    pod = await app.config.KubeSpawner.modify_pod_hook(spawner, user_pod())
    as_dict = api_client.sanitize_for_serialization(pod)
    assert as_dict["metadata"]["labels"]["seen-by"] == "earlier"
    assert "tok-1" not in str(as_dict)
