"""Stand-ins for the Kubernetes API and a spawner, for the hook tests."""

import logging

from kubernetes_asyncio.client.rest import ApiException
from kubespawner.objects import make_pod


class RecordingCoreV1Api:
    """The two Secret calls of kubernetes_asyncio's CoreV1Api, answering from a script; records every call."""

    def __init__(self, api_client, create_answers=()):
        self.api_client = api_client
        self.calls = []
        self._create_answers = list(create_answers)

    async def create_namespaced_secret(self, namespace, body):
        self.calls.append(("create", namespace, body))
        if self._create_answers:
            answer = self._create_answers.pop(0)
            if answer is not None:
                raise ApiException(status=answer)
        return body

    async def delete_namespaced_secret(self, name, namespace):
        self.calls.append(("delete", namespace, name))


class FakeSpawner:
    k8s_api_request_timeout = 3
    k8s_api_request_retry_timeout = 10
    log = logging.getLogger("test.spawner")

    def __init__(self, api):
        self.api = api


def user_pod():
    return make_pod(
        name="jupyter-ana",
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image="user:1",
        env={"JUPYTERHUB_API_TOKEN": "tok-1", "JPY_API_TOKEN": "tok-1", "JUPYTERHUB_USER": "ana"},
        labels={"component": "singleuser-server"},
        init_containers=[{"name": "init", "image": "init:1", "env": [{"name": "INIT_PASSWORD", "value": "pw"}]}],
    )
