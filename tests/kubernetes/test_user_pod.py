"""A user pod as the chart's hub builds it: KubeSpawner's get_pod_manifest() with the project's spawner and hooks,
the Secret beside it, both validated against the Kubernetes 1.32 schemas; no secret value anywhere in the pod."""

import base64
import json

import kubernetes_validate
import pytest
from jupyterhub.objects import Hub
from kubespawner import KubeSpawner

from hub.spawn import FORBIDDEN_VARIABLES, BrokeredLocalProcessSpawner, aws_config_text, resolve_role
from tests.kubernetes.chart import CHART_SECRETS
from tests.kubernetes.conftest import DEMO_POLICY, ENTRA_CLIENT_SECRET, SITE_ARGS, FakeUser, eligible_roles
from tests.kubernetes.fakes import RecordingCoreV1Api

pytestmark = pytest.mark.kubernetes

KUBERNETES_VERSION = "1.32.0"
TOKEN = "a3f9e1c07b5d4c2e8f6a9b1d3c5e7f90"  # a server's JupyterHub API token
POD_UID = "4b6f3c1e-2d8a-4f7b-9c0e-5a1d2b3c4e5f"
SECRET_VALUES = (TOKEN, ENTRA_CLIENT_SECRET, *CHART_SECRETS.values())
NOTEBOOK_SECURITY_CONTEXT = {
    "runAsUser": 1000,
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


async def spawn(app, spawner_class, user, user_options=None):
    """A spawner for the person's default server as the hub makes it, where BrokeredAWSMixin.start() has resolved
    the role (the rest of start() needs the broker and a cluster)."""
    hub = Hub(base_url="/hub/", connect_url="http://hub:8081", public_host="https://hub.example.com")
    kubernetes = {"_mock": True} if issubclass(spawner_class, KubeSpawner) else {}  # no cluster to connect to
    spawner = spawner_class(config=app.config, user=user, hub=hub, user_options=user_options or {}, **kubernetes)
    spawner.api_token = TOKEN
    spawner._aws_role = resolve_role(await spawner._choices(), spawner.user_options)
    return spawner


async def build_user_pod(app, user, user_options=None):
    """The pod KubeSpawner would create (after modify_pod_hook) and the Secret the after-creation hook creates."""
    spawner = await spawn(app, app.spawner_class, user, user_options)
    pod = await spawner.modify_pod_hook(spawner, await spawner.get_pod_manifest())
    pod = spawner.api.api_client.sanitize_for_serialization(pod)
    recorder = spawner.api = RecordingCoreV1Api(spawner.api.api_client)
    created = {**pod, "metadata": {**pod["metadata"], "namespace": spawner.namespace, "uid": POD_UID}}
    await spawner.after_pod_created_hook(spawner, created)
    [(call, _, secret)] = recorder.calls
    assert call == "create"
    return spawner, pod, secret


@pytest.fixture
async def ana(hub_app):
    """Ana, an analyst: one role, so no choice to make."""
    user = FakeUser("ana", {"eligible_roles": eligible_roles(DEMO_POLICY, "analysts")})
    return await build_user_pod(hub_app, user)


def notebook(pod) -> dict:
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    return container


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_pod_and_secret_are_valid_kubernetes_1_32_objects(ana):
    _, pod, secret = ana
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)


def test_the_validation_is_not_vacuous(ana):
    _, pod, _ = ana
    broken = json.loads(json.dumps(pod))
    notebook(broken)["securityContext"]["runAsNonRoot"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_no_secret_value_appears_anywhere_in_the_pod(ana):
    _, pod, _ = ana
    text = json.dumps(pod)
    assert [value for value in SECRET_VALUES if value in text] == []


def test_every_secret_reference_points_at_a_key_of_the_pods_secret(ana):
    _, pod, secret = ana
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
    refs = [
        env["valueFrom"]["secretKeyRef"]
        for container in containers
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    ]
    assert sorted(ref["key"] for ref in refs) == ["JPY_API_TOKEN", "JUPYTERHUB_API_TOKEN"]
    assert {ref["name"] for ref in refs} == {secret["metadata"]["name"]} == {"jupyter-ana-env"}
    assert all(ref.get("optional") in (None, False) for ref in refs), "a server never starts without its token"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "JPY_API_TOKEN": TOKEN,
        "JUPYTERHUB_API_TOKEN": TOKEN,
    }


def test_the_secret_belongs_to_the_pod(ana):
    _, pod, secret = ana
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": POD_UID}
    ]
    assert secret["metadata"]["namespace"] == "jupyterhub"
    assert secret["immutable"] is True
    assert secret["metadata"]["labels"]["hub.jupyter.org/username"] == "ana"


def test_the_notebook_runs_unprivileged_without_a_kubernetes_token(ana):
    _, pod, _ = ana
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["securityContext"] == {"fsGroup": 100}
    assert notebook(pod)["securityContext"] == NOTEBOOK_SECURITY_CONTEXT
    assert pod["spec"]["enableServiceLinks"] is False
    assert not any("hostPath" in volume for volume in pod["spec"]["volumes"])


def test_only_the_charts_metadata_blocker_is_privileged_and_it_runs_before_any_user_code(ana):
    _, pod, _ = ana
    [init] = pod["spec"]["initContainers"]
    assert init["name"] == "block-cloud-metadata"
    assert init["image"] == "quay.io/jupyterhub/k8s-network-tools:4.4.0"  # the chart release's own tag
    assert init["command"] == [
        *("iptables", "--append", "OUTPUT", "--protocol", "tcp"),
        *("--destination", "169.254.169.254", "--destination-port", "80", "--jump", "DROP"),
    ]
    assert "env" not in init


def test_the_server_gets_the_broker_and_its_s3_home_but_no_aws_keys(ana):
    spawner, pod, _ = ana
    env = env_of(notebook(pod))
    assert [name for name in FORBIDDEN_VARIABLES if name in env] == []
    assert env["JUPYTERHUB_AWS_BROKER_URL"] == "http://hub:8181/services/aws-credentials/"
    assert env["JUPYTERHUB_AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/jupyterhub-analyst"
    assert env["AWS_CONFIG_FILE"] == "/etc/jupyter/aws-config" == spawner.aws_config_file
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert (env["S3CONTENTS_BUCKET"], env["S3CONTENTS_PREFIX"]) == ("demo-jupyter-notebooks", "home/ana")
    assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"


def test_the_mounted_aws_config_runs_the_images_credential_helper(ana, merged_values):
    spawner, pod, _ = ana
    [mount] = [m for m in notebook(pod)["volumeMounts"] if m["mountPath"] == spawner.aws_config_file]
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "singleuser"
    assert {"key": mount["subPath"], "path": mount["subPath"]} in volume["secret"]["items"]
    mounted = merged_values["singleuser"]["extraFiles"][mount["subPath"]]["stringData"]
    assert mounted == aws_config_text(spawner.helper_command, "us-east-1")
    assert mounted == (
        "[default]\ncredential_process = python3 -I /etc/jupyter/aws_credential_process.py\nregion = us-east-1\n"
    )


async def test_the_role_choice_reaches_the_pod(hub_app):
    user = FakeUser("dee", {"eligible_roles": eligible_roles(DEMO_POLICY, "analysts", "data-engineers")})
    _, pod, _ = await build_user_pod(hub_app, user, {"aws_access_group": "data-engineers"})
    env = env_of(notebook(pod))
    assert env["JUPYTERHUB_AWS_ACCESS_GROUP"] == "data-engineers"
    assert env["JUPYTERHUB_AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/jupyterhub-data-engineer"


async def test_kubernetes_and_local_servers_get_the_same_aws_and_s3_settings(hub_app, ana):
    """One code path: what differs between the spawners is where the AWS config file is, nothing else."""
    kube_spawner, pod, _ = ana
    local = await spawn(hub_app, BrokeredLocalProcessSpawner, kube_spawner.user)
    local_env = local.get_env()
    kube_env = env_of(notebook(pod))

    def ours(env):
        return {k: v for k, v in env.items() if k.startswith(("AWS_", "S3CONTENTS_", "JUPYTERHUB_AWS_"))}

    differing = {k for k in ours(local_env).keys() | ours(kube_env).keys() if local_env.get(k) != kube_env.get(k)}
    assert differing == {"AWS_CONFIG_FILE"}
    assert "JUPYTER_CONFIG_PATH" in local_env and "JUPYTER_CONFIG_PATH" not in kube_env, "the image has it in /etc"


def test_the_user_image_is_the_generated_one(ana):
    _, pod, _ = ana
    assert notebook(pod)["image"] == SITE_ARGS["user_image"]
    assert notebook(pod)["args"] == ["jupyterhub-singleuser"]


def test_user_pods_name_the_scheduler_the_chart_registers(ana):
    """The chart's user scheduler registers as `<release>-user-scheduler` (a cluster-wide name, so two releases in one
    cluster do not collide); a pod naming any other scheduler would stay Pending forever.
    ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.4.0/jupyterhub/templates/_helpers-names.tpl"""
    _, pod, _ = ana
    assert pod["spec"]["schedulerName"] == "jupyterhub-user-scheduler"
