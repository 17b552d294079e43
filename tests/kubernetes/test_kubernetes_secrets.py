"""hub/kubernetes_secrets.py: the builders against literal values, the two hooks against a recording Kubernetes API."""

import base64

import pytest
from kubernetes_asyncio.client.rest import ApiException
from kubespawner.objects import make_pod

from hub.kubernetes_secrets import (
    EnvSecretError,
    create_env_secret,
    env_secret_manifest,
    env_secret_name,
    is_secret_env_name,
    move_secret_env,
    secret_env_refs,
)
from tests.kubernetes.fakes import FakeSpawner, RecordingCoreV1Api, user_pod

pytestmark = pytest.mark.kubernetes


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("JUPYTERHUB_API_TOKEN", True),
        ("JPY_API_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("AWS_SESSION_TOKEN", True),
        ("JUPYTERHUB_CRYPT_KEY", True),
        ("OPENAI_API_KEY", True),
        ("DB_PASSWORD", True),
        ("GIT_CREDENTIALS", True),
        ("my_token", True),
        ("JUPYTERHUB_USER", False),
        ("JUPYTERHUB_API_URL", False),
        ("JUPYTERHUB_OAUTH_ACCESS_SCOPES", False),
        ("S3CONTENTS_PREFIX", False),
        ("JUPYTERHUB_AWS_ROLE_ARN", False),
        ("KEYBOARD_LAYOUT", False),
        ("AWS_SHARED_CREDENTIALS_FILE", False),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", False),
        ("JUPYTERHUB_SSL_KEYFILE", False),
        ("VAULT_TOKEN_PATH", False),
        ("TOKENIZERS_PARALLELISM", False),
    ],
)
def test_which_variables_are_secret(name, secret):
    assert is_secret_env_name(name) is secret


def test_secret_name_is_the_pod_name_with_env():
    assert env_secret_name("jupyter-ana") == "jupyter-ana-env"
    assert env_secret_name("jupyter-ana--gpu") == "jupyter-ana--gpu-env"


def test_a_pod_name_that_cannot_name_a_secret_is_refused():
    with pytest.raises(EnvSecretError, match=r"pod name 'Jupyter_Ana' gives no valid Secret name"):
        env_secret_name("Jupyter_Ana")


def test_secret_values_become_references_and_the_rest_stays():
    containers = [
        {
            "name": "notebook",
            "image": "user:1",
            "env": [
                {"name": "JUPYTERHUB_API_TOKEN", "value": "tok-1"},
                {"name": "JUPYTERHUB_USER", "value": "ana"},
                {"name": "JPY_API_TOKEN", "value": "tok-1"},
                {"name": "FROM_FIELD_TOKEN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
        },
        {"name": "sidecar", "env": [{"name": "JUPYTERHUB_API_TOKEN", "value": "tok-1"}]},
        {"name": "no-env", "image": "x:1"},
    ]
    result, data = secret_env_refs(containers, "jupyter-ana-env")

    def ref(key):
        return {"secretKeyRef": {"name": "jupyter-ana-env", "key": key}}

    assert result == [
        {
            "name": "notebook",
            "image": "user:1",
            "env": [
                {"name": "JUPYTERHUB_API_TOKEN", "valueFrom": ref("JUPYTERHUB_API_TOKEN")},
                {"name": "JUPYTERHUB_USER", "value": "ana"},
                {"name": "JPY_API_TOKEN", "valueFrom": ref("JPY_API_TOKEN")},
                {"name": "FROM_FIELD_TOKEN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
        },
        {"name": "sidecar", "env": [{"name": "JUPYTERHUB_API_TOKEN", "valueFrom": ref("JUPYTERHUB_API_TOKEN")}]},
        {"name": "no-env", "image": "x:1"},
    ]
    assert data == {"JUPYTERHUB_API_TOKEN": "tok-1", "JPY_API_TOKEN": "tok-1"}
    assert containers[0]["env"][0] == {"name": "JUPYTERHUB_API_TOKEN", "value": "tok-1"}, "input left unchanged"


def test_one_variable_with_two_values_is_refused():
    containers = [
        {"name": "notebook", "env": [{"name": "API_TOKEN", "value": "a"}]},
        {"name": "helper", "env": [{"name": "API_TOKEN", "value": "b"}]},
    ]
    with pytest.raises(EnvSecretError) as refusal:
        secret_env_refs(containers, "s")
    assert str(refusal.value) == (
        "API_TOKEN differs between containers 'notebook' and 'helper': give the variable a different name in one of "
        "them"
    )


def test_the_secret_is_immutable_and_owned_by_the_pod():
    manifest = env_secret_manifest(
        name="jupyter-ana-env",
        namespace="jupyterhub",
        data={"JUPYTERHUB_API_TOKEN": "tok-1", "JPY_API_TOKEN": "tok-1"},
        labels={"component": "singleuser-server", "hub.jupyter.org/username": "ana"},
        pod_name="jupyter-ana",
        pod_uid="0c9d7a3e-6f0a-4a47-9a57-2b1f8e8f2c11",
    )
    assert manifest == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "jupyter-ana-env",
            "namespace": "jupyterhub",
            "labels": {"component": "singleuser-server", "hub.jupyter.org/username": "ana"},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "jupyter-ana",
                    "uid": "0c9d7a3e-6f0a-4a47-9a57-2b1f8e8f2c11",
                }
            ],
        },
        "type": "Opaque",
        "immutable": True,
        "data": {"JPY_API_TOKEN": "dG9rLTE=", "JUPYTERHUB_API_TOKEN": "dG9rLTE="},
    }


# ---- the hooks ------------------------------------------------------------------------------------------------------


def api_pod(uid="0c9d7a3e-6f0a-4a47-9a57-2b1f8e8f2c11"):
    """The pod as after_pod_created_hook receives it (KubeSpawner's pod reflector: a dict)."""
    return {"metadata": {"name": "jupyter-ana", "namespace": "jupyterhub", "uid": uid}}


async def test_before_the_pod_the_spec_loses_its_secret_values(api_client):
    spawner = FakeSpawner(RecordingCoreV1Api(api_client))
    pod = await move_secret_env(spawner, user_pod())
    as_dict = api_client.sanitize_for_serialization(pod)
    assert as_dict["spec"]["containers"][0]["env"] == [
        {"name": "JPY_API_TOKEN", "valueFrom": {"secretKeyRef": {"key": "JPY_API_TOKEN", "name": "jupyter-ana-env"}}},
        {
            "name": "JUPYTERHUB_API_TOKEN",
            "valueFrom": {"secretKeyRef": {"key": "JUPYTERHUB_API_TOKEN", "name": "jupyter-ana-env"}},
        },
        {"name": "JUPYTERHUB_USER", "value": "ana"},
    ]
    assert as_dict["spec"]["initContainers"][0]["env"] == [
        {"name": "INIT_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "INIT_PASSWORD", "name": "jupyter-ana-env"}}}
    ]
    assert "tok-1" not in str(as_dict) and "'pw'" not in str(as_dict)
    assert spawner.api.calls == [], "nothing is created before the pod exists"


async def test_after_the_pod_its_secret_is_created_with_the_pod_as_owner(api_client):
    spawner = FakeSpawner(RecordingCoreV1Api(api_client))
    await move_secret_env(spawner, user_pod())
    await create_env_secret(spawner, api_pod())
    [(call, namespace, body)] = spawner.api.calls
    assert (call, namespace) == ("create", "jupyterhub")
    assert body["metadata"]["name"] == "jupyter-ana-env"
    assert body["metadata"]["labels"] == {"component": "singleuser-server"}
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "jupyter-ana", "uid": "0c9d7a3e-6f0a-4a47-9a57-2b1f8e8f2c11"}
    ]
    decoded = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert decoded == {"INIT_PASSWORD": "pw", "JPY_API_TOKEN": "tok-1", "JUPYTERHUB_API_TOKEN": "tok-1"}


async def test_a_leftover_secret_of_an_earlier_pod_is_replaced(api_client):
    spawner = FakeSpawner(RecordingCoreV1Api(api_client, create_answers=[409, None]))
    await move_secret_env(spawner, user_pod())
    await create_env_secret(spawner, api_pod())
    assert [(c[0], c[1], c[2] if c[0] == "delete" else c[2]["metadata"]["name"]) for c in spawner.api.calls] == [
        ("create", "jupyterhub", "jupyter-ana-env"),
        ("delete", "jupyterhub", "jupyter-ana-env"),
        ("create", "jupyterhub", "jupyter-ana-env"),
    ]


async def test_a_refused_secret_fails_the_spawn(api_client):
    spawner = FakeSpawner(RecordingCoreV1Api(api_client, create_answers=[403]))
    await move_secret_env(spawner, user_pod())
    with pytest.raises(ApiException) as refusal:
        await create_env_secret(spawner, api_pod())
    assert refusal.value.status == 403


async def test_the_second_hook_alone_is_a_configuration_error(api_client):
    with pytest.raises(EnvSecretError, match=r"create_env_secret ran without move_secret_env: set both hooks"):
        await create_env_secret(FakeSpawner(RecordingCoreV1Api(api_client)), api_pod())


async def test_a_pod_without_secrets_gets_no_secret(api_client):
    spawner = FakeSpawner(RecordingCoreV1Api(api_client))
    pod = make_pod(name="jupyter-bo", cmd=["x"], port=8888, image="user:1", env={"JUPYTERHUB_USER": "bo"})
    await move_secret_env(spawner, pod)
    await create_env_secret(spawner, api_pod())
    assert spawner.api.calls == []
