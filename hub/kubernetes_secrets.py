"""Nothing secret in a user pod's spec: KubeSpawner hooks that move secret environment variables into a Secret.

JupyterHub hands each server its API token (``JUPYTERHUB_API_TOKEN``, and the deprecated ``JPY_API_TOKEN``) as an
environment variable, and KubeSpawner writes environment variables into the pod spec in plain text, where anyone who
may read pods (``kubectl get pod -o yaml``, monitoring tools, backups of etcd) reads the token. KubeSpawner leaves
this open (https://github.com/jupyterhub/kubespawner/issues/398). Here:

1. :func:`move_secret_env` (``KubeSpawner.modify_pod_hook``, before the pod is created) replaces every secret-looking
   variable of every container with a ``secretKeyRef`` to the per-server Secret ``<pod name>-env``, and keeps the
   values on the spawner.
2. :func:`create_env_secret` (``KubeSpawner.after_pod_created_hook``, once the pod has its uid) creates that Secret,
   immutable, owned by the pod: Kubernetes' garbage collector deletes it with the pod.

Why the Secret comes second: an owner reference needs the owner's uid, which exists only once the pod does, and the
chart's hub Role may create, get and delete Secrets but not patch them, so "create the Secret, create the pod, then
add the owner" is not possible without widening the hub's rights. Created with its owner in one call, the Secret can
never be orphaned (a hub crash between two calls would leave a live token behind). The pod cannot use it early: a
container whose ``secretKeyRef`` is missing is not started (the kubelet retries), and the Secret is created as soon
as the pod has its uid, normally long before the kubelet gets to the notebook container (after scheduling, the image
pull and the init container). This is the order KubeSpawner itself uses for its internal-TLS Secret. If the Secret
cannot be created, KubeSpawner deletes the pod and the spawn fails.

The pure builders (:func:`is_secret_env_name`, :func:`env_secret_name`, :func:`secret_env_refs`,
:func:`env_secret_manifest`) do no I/O and are tested against literal values.
"""

import asyncio
import base64
import re

# The token variables JupyterHub sets; anything else secret is recognised by its name.
JUPYTERHUB_TOKEN_VARIABLES = frozenset({"JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"})
# A variable is secret when one of its underscore-separated words says so, or it names a key (AWS_SECRET_ACCESS_KEY,
# JUPYTERHUB_CRYPT_KEY, OPENAI_API_KEY). Moving a harmless variable costs nothing; leaving a secret one does.
_SECRET_WORDS = frozenset(
    {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
)
_SECRET_SUFFIXES = ("_KEY",)
# ... unless it names where a secret is (AWS_SHARED_CREDENTIALS_FILE, AWS_WEB_IDENTITY_TOKEN_FILE): a location.
_LOCATION_SUFFIXES = ("_FILE", "_PATH", "_DIR", "_URL", "_URI")
SECRET_NAME_SUFFIX = "-env"  # noqa: S105 - a name suffix, not a password
# A Kubernetes object name (DNS subdomain): at most 253 characters.
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# What the spawner remembers between the two hooks.
_PENDING_ATTRIBUTE = "_env_secret_pending"


class EnvSecretError(ValueError):
    """The pod's environment cannot be moved into a Secret as it stands; the message names the variable."""


# ---- pure builders -------------------------------------------------------------------------------------------------


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's value must not appear in a pod spec."""
    upper = name.upper()
    if upper in JUPYTERHUB_TOKEN_VARIABLES or upper.endswith(_SECRET_SUFFIXES):
        return True
    if upper.endswith(_LOCATION_SUFFIXES):
        return False
    return any(word in _SECRET_WORDS for word in upper.split("_"))


def env_secret_name(pod_name: str) -> str:
    """The Secret holding a pod's secret environment: ``<pod name>-env`` (pod names are unique, so is this)."""
    name = f"{pod_name}{SECRET_NAME_SUFFIX}"
    if not _OBJECT_NAME.match(name):
        raise EnvSecretError(f"pod name {pod_name!r} gives no valid Secret name ({name!r})")
    return name


def secret_env_refs(containers: list[dict], secret_name: str) -> tuple[list[dict], dict[str, str]]:
    """Containers with every secret literal ``env`` value replaced by a ``secretKeyRef``, and the Secret's data.

    ``containers`` are Kubernetes Container objects as dicts (camelCase). The Secret's key is the variable's name; a
    variable that two containers set to different values is refused, since one key cannot hold both.
    """
    data: dict[str, str] = {}
    first_seen: dict[str, str] = {}
    result = []
    for container in containers:
        env = []
        for variable in container.get("env") or []:
            name = variable["name"]
            if "value" not in variable or variable["value"] is None or not is_secret_env_name(name):
                env.append(variable)
                continue
            value = variable["value"]
            if name in data and data[name] != value:
                raise EnvSecretError(
                    f"{name} differs between containers {first_seen[name]!r} and {container['name']!r}: give the "
                    "variable a different name in one of them"
                )
            data[name] = value
            first_seen.setdefault(name, container["name"])
            env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": name}}})
        result.append({**container, "env": env} if "env" in container else container)
    return result, data


def owner_reference(pod_name: str, pod_uid: str) -> dict:
    """The pod as owner, so that the garbage collector deletes the Secret with it.

    No ``blockOwnerDeletion``: setting it needs update rights on ``pods/finalizers``, which the chart's hub Role lacks,
    and nothing needs the pod's deletion to wait for the Secret's.
    """
    return {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid}


def env_secret_manifest(
    *, name: str, namespace: str, data: dict[str, str], labels: dict, pod_name: str, pod_uid: str
) -> dict:
    """The Secret object: immutable (its values never change while the pod lives), owned by the pod."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "ownerReferences": [owner_reference(pod_name, pod_uid)],
        },
        "type": "Opaque",
        "immutable": True,
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(data.items())},
    }


# ---- the hooks -----------------------------------------------------------------------------------------------------


def _containers(pod) -> list:
    return list(pod.spec.containers or []) + list(pod.spec.init_containers or [])


async def move_secret_env(spawner, pod):
    """``KubeSpawner.modify_pod_hook``: secret env values out of the pod spec, into ``secretKeyRef`` references."""
    from kubernetes_asyncio.client import V1EnvVar
    from kubespawner.utils import get_k8s_model

    secret_name = env_secret_name(pod.metadata.name)
    serialize = spawner.api.api_client.sanitize_for_serialization  # the spawner's own client: no new connection pool
    containers = _containers(pod)
    as_dicts = [{"name": c.name, "env": serialize(c.env or [])} for c in containers]
    rewritten, data = secret_env_refs(as_dicts, secret_name)
    for container, new in zip(containers, rewritten, strict=True):
        container.env = [get_k8s_model(V1EnvVar, variable) for variable in new["env"]] or None
    setattr(spawner, _PENDING_ATTRIBUTE, (secret_name, data, dict(pod.metadata.labels or {})))
    if data:
        spawner.log.info(
            "Secret environment of %s (%s) goes into Secret %s", pod.metadata.name, sorted(data), secret_name
        )
    return pod


async def create_env_secret(spawner, pod: dict):
    """``KubeSpawner.after_pod_created_hook``: create the pod's Secret, owned by the pod (``pod`` as the API has it)."""
    from jupyterhub.utils import exponential_backoff
    from kubernetes_asyncio.client.rest import ApiException

    pending = getattr(spawner, _PENDING_ATTRIBUTE, None)
    if pending is None:
        raise EnvSecretError(
            "KubeSpawner.after_pod_created_hook create_env_secret ran without move_secret_env: set both hooks "
            "(hub/config/40-kubernetes.py does)"
        )
    secret_name, data, labels = pending
    if not data:
        return
    manifest = env_secret_manifest(
        name=secret_name,
        namespace=pod["metadata"]["namespace"],
        data=data,
        labels=labels,
        pod_name=pod["metadata"]["name"],
        pod_uid=pod["metadata"]["uid"],
    )
    api, namespace, timeout = spawner.api, manifest["metadata"]["namespace"], spawner.k8s_api_request_timeout

    async def attempt():
        try:
            await asyncio.wait_for(api.create_namespaced_secret(namespace, manifest), timeout)
            return True
        except TimeoutError:
            return False
        except ApiException as e:
            if e.status != 409:
                raise
        # Left by an earlier pod of the same name whose garbage collection has not run yet (immutable: replace it).
        spawner.log.info("Replacing the earlier Secret %s/%s", namespace, secret_name)
        try:
            await asyncio.wait_for(api.delete_namespaced_secret(secret_name, namespace), timeout)
        except ApiException as e:
            if e.status != 404:
                raise
        except TimeoutError:
            pass
        return False

    await exponential_backoff(
        attempt,
        f"Could not create Secret {namespace}/{secret_name} for pod {pod['metadata']['name']}",
        timeout=spawner.k8s_api_request_retry_timeout,
    )
    delattr(spawner, _PENDING_ATTRIBUTE)
