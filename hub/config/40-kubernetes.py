# User pods on Kubernetes (KubeSpawner): nothing secret in the pod spec, no Kubernetes API token in the pod.
# Only KubeSpawner reads these settings, so the local stack loads the same folder harmlessly; on Kubernetes the chart
# mounts this file into jupyterhub_config.d (helm/values.yaml picks hub.spawn.BrokeredKubeSpawner).
#
# - The server's JupyterHub API token, and any other variable whose name says it is secret, moves from the pod spec
#   into a per-server Secret `<pod name>-env`, referenced with secretKeyRef and deleted with the pod by its owner
#   reference (hub/kubernetes_secrets.py explains the order of the two steps).
# - The pod gets no service account token: notebook code has no business with the Kubernetes API.
# Security contexts, images and resources are plain settings: they live in helm/values.yaml.
from hub.kubernetes_secrets import create_env_secret, move_secret_env


def _run_both(first, second):
    """A hook running an earlier-configured hook first, then ours (each receives the pod the previous returned)."""

    async def hook(spawner, pod):
        result = first(spawner, pod)
        if hasattr(result, "__await__"):
            result = await result
        return await second(spawner, pod if result is None else result)

    return hook


# Settings of KubeSpawner's: under any other spawner class nobody reads them.
_earlier = c.KubeSpawner.get("modify_pod_hook")
c.KubeSpawner.modify_pod_hook = _run_both(_earlier, move_secret_env) if _earlier else move_secret_env
_earlier = c.KubeSpawner.get("after_pod_created_hook")
c.KubeSpawner.after_pod_created_hook = _run_both(_earlier, create_env_secret) if _earlier else create_env_secret
c.KubeSpawner.automount_service_account_token = False
