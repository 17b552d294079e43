"""Fixtures for the Kubernetes tier: the chart's values, the generated values, the hub pod and a user pod."""

import argparse
import importlib.util
import os
from pathlib import Path

import pytest
import yaml

from tests.kubernetes.chart import REPO, VALUES_FILE, HubPod, helm_merge, reference_file

DEMO_POLICY = REPO / "hub" / "demo" / "access-policy.yaml"
BROKER_ROLE_ARN = "arn:aws:iam::123456789012:role/jupyterhub-credential-broker"
# `terraform output -json` of terraform/examples/complete, as it is for the demo access policy.
TERRAFORM_OUTPUT = {
    "helm_values": {
        "sensitive": False,
        "type": "string",
        "value": (
            "# From terraform output -raw helm_values (terraform/examples/complete).\n"
            + yaml.safe_dump(
                {
                    "hub": {
                        "extraEnv": {
                            "AWS_REGION": "us-east-1",
                            "AWS_ROLE_SESSION_NAME": "credential-broker",
                            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
                        },
                        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": BROKER_ROLE_ARN}},
                    }
                }
            )
        ),
    },
    "broker_role_arn": {"sensitive": False, "type": "string", "value": BROKER_ROLE_ARN},
    "notebook_bucket": {"sensitive": False, "type": "string", "value": "demo-jupyter-notebooks"},
}
SITE_ARGS = {
    "host": "hub.example.com",
    "entra_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "entra_client_id": "0b9d8f4e-3c7a-4e5b-9a61-2f1e8d7c6b5a",
    "hub_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-hub:3f2a9c1",
    "user_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-user:3f2a9c1",
    "certificate_arn": None,
}
# The Secret the administrator creates (README step 5), with a recognisable value the tests look for.
ENTRA_CLIENT_SECRET = "entra-client-secret-Zx81~q"
CLUSTER_SECRETS = {"entra-oauth": {"client-secret": ENTRA_CLIENT_SECRET}}
# What EKS's pod identity webhook adds to the hub container for the annotated service account (IRSA).
IRSA_ENV = {
    "AWS_ROLE_ARN": BROKER_ROLE_ARN,
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
}
DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: dummy}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: jupyterhub}}]
current-context: none
"""
# Variables of this machine that would change what the hub's config files do.
_OUR_PREFIXES = ("AWS_", "OAUTH_", "JUPYTERHUB_", "AAD_", "CREDENTIAL_BROKER_")
_OUR_NAMES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_values", REPO / "helm" / "generate_values.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def api_client():
    """A Kubernetes API client for serialising objects (it never connects)."""
    from kubernetes_asyncio.client import ApiClient

    client = ApiClient()
    yield client
    await client.close()


@pytest.fixture(scope="session")
def generator():
    """helm/generate_values.py as a module."""
    return _load_generator()


@pytest.fixture(scope="session")
def chart_defaults():
    return yaml.safe_load(reference_file("values.yaml").read_text())


@pytest.fixture(scope="session")
def chart_schema():
    return yaml.safe_load(reference_file("values.schema.yaml").read_text())


@pytest.fixture(scope="session")
def project_values():
    return yaml.safe_load(VALUES_FILE.read_text())


@pytest.fixture(scope="session")
def terraform_output_file(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("terraform") / "terraform-output.json"
    path.write_text(json.dumps(TERRAFORM_OUTPUT))
    return path


@pytest.fixture(scope="session")
def generated_values(generator, terraform_output_file):
    args = argparse.Namespace(terraform_output=str(terraform_output_file), access_policy=str(DEMO_POLICY), **SITE_ARGS)
    return generator.build(args)


@pytest.fixture(scope="session")
def merged_values(chart_defaults, project_values, generated_values):
    """What Helm renders the chart with: defaults, then helm/values.yaml, then the generated file."""
    return helm_merge(helm_merge(chart_defaults, project_values), generated_values)


@pytest.fixture
def hub_pod(merged_values, tmp_path, monkeypatch):
    """The hub container's files and environment; this process's environment is the container's while it lasts."""
    import kubernetes_asyncio.config.kube_config as kube_config

    pod = HubPod(merged_values, tmp_path / "hub-pod", CLUSTER_SECRETS)
    for name in list(os.environ):
        if name.startswith(_OUR_PREFIXES) or name in _OUR_NAMES:
            monkeypatch.delenv(name)
    for name, value in {**pod.env, **IRSA_ENV}.items():
        monkeypatch.setenv(name, value)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    # KubeSpawner loads the Kubernetes client configuration once per process, from this default location.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    return pod


@pytest.fixture
def hub_app(hub_pod):
    """A JupyterHub application configured exactly as the chart's hub would be (config loaded, not started)."""
    from jupyterhub.app import JupyterHub

    app = JupyterHub()
    app.load_config_file(str(hub_pod.config_file))
    return app


class FakeUser:
    """What a spawner reads from its user; ``auth_state`` as the authenticator stores it."""

    def __init__(self, name: str, auth_state: dict):
        self.name = self.escaped_name = name
        self.url = f"/user/{name}/"
        self.id = 7
        self._auth_state = auth_state

    async def get_auth_state(self):
        return self._auth_state


def eligible_roles(policy_file: Path, *group_names: str) -> list[dict]:
    """auth_state's eligible_roles for members of these access groups (the authenticator's shape)."""
    from authenticator.access_policy import load_access_policy

    policy = load_access_policy(policy_file)
    return [
        {"access_group": g.name, "role_arn": g.role_arn, "display_name": g.display_name}
        for g in policy.access_groups
        if g.name in group_names
    ]
