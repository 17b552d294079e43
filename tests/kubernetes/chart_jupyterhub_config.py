# Stand-in, for tests, for the jupyterhub_config.py of the Zero to JupyterHub chart 4.4.0: the same steps in the same
# order for the values this project uses, so that the project's files run as they will in the hub pod. Like the
# chart's, it runs the jupyterhub_config.d files *inside its own namespace* (where `get_config` is the chart helper)
# and hub.extraConfig last. Left out: the curl HTTP client, database passwords, image pull secret injection details.
# ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.4.0/jupyterhub/files/hub/jupyterhub_config.py
import glob
import os
import re
import sys

from jupyterhub.utils import url_path_join

c = get_config()  # noqa: F821 - traitlets' get_config, before the chart's helper replaces the name (as in the chart)

from tests.kubernetes.chart import (  # noqa: E402 - the chart's order
    ETC,
    get_config,
    get_name,
    get_name_env,
    get_secret_value,
    set_config_if_not_none,
)

_etc = os.path.join(os.environ["CHART_HUB_ROOT"], ETC)


def _camel(name):
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.ConfigurableHTTPProxy.api_url = f"http://{get_name('proxy-api')}:{get_name_env('proxy-api', '_SERVICE_PORT')}"
c.ConfigurableHTTPProxy.should_start = False
c.JupyterHub.cleanup_servers = False
c.JupyterHub.last_activity_interval = 60
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

_db_type = get_config("hub.db.type")
if _db_type == "sqlite-pvc":
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
elif _db_type == "sqlite-memory":
    c.JupyterHub.db_url = "sqlite://"
else:
    set_config_if_not_none(c.JupyterHub, "db_url", "hub.db.url")

for _trait in (
    "concurrent_spawn_limit",
    "active_server_limit",
    "base_url",
    "allow_named_servers",
    "named_server_limit_per_user",
    "authenticate_prometheus",
    "redirect_to_server",
    "shutdown_on_logout",
    "template_paths",
    "template_vars",
):
    set_config_if_not_none(c.JupyterHub, _trait, "hub." + _camel(_trait))

c.JupyterHub.hub_bind_url = "http://:8081"
c.JupyterHub.hub_connect_url = f"http://{get_name('hub')}:{get_name_env('hub', '_SERVICE_PORT')}"

_labels = c.KubeSpawner.common_labels = {}
_labels["app.kubernetes.io/name"] = _labels["app"] = get_config("nameOverride", default=get_config("Chart.Name"))
_labels["app.kubernetes.io/instance"] = _labels["release"] = get_config("Release.Name")
_labels["helm.sh/chart"] = _labels["chart"] = f"{get_config('Chart.Name')}-{get_config('Chart.Version')}"
_labels["app.kubernetes.io/managed-by"] = "kubespawner"
c.KubeSpawner.namespace = os.environ.get("POD_NAMESPACE", "default")

set_config_if_not_none(c.Spawner, "consecutive_failure_limit", "hub.consecutiveFailureLimit")
for _trait, _key in (
    ("pod_name_template", None),
    ("start_timeout", None),
    ("image_pull_policy", "image.pullPolicy"),
    ("events_enabled", "events"),
    ("extra_labels", None),
    ("extra_annotations", None),
    ("uid", None),
    ("fs_gid", None),
    ("service_account", "serviceAccountName"),
    ("storage_extra_labels", "storage.extraLabels"),
    ("node_selector", None),
    ("node_affinity_required", "extraNodeAffinity.required"),
    ("node_affinity_preferred", "extraNodeAffinity.preferred"),
    ("pod_affinity_required", "extraPodAffinity.required"),
    ("pod_affinity_preferred", "extraPodAffinity.preferred"),
    ("pod_anti_affinity_required", "extraPodAntiAffinity.required"),
    ("pod_anti_affinity_preferred", "extraPodAntiAffinity.preferred"),
    ("lifecycle_hooks", None),
    ("init_containers", None),
    ("extra_containers", None),
    ("mem_limit", "memory.limit"),
    ("mem_guarantee", "memory.guarantee"),
    ("cpu_limit", "cpu.limit"),
    ("cpu_guarantee", "cpu.guarantee"),
    ("extra_resource_limits", "extraResource.limits"),
    ("extra_resource_guarantees", "extraResource.guarantees"),
    ("environment", "extraEnv"),
    ("profile_list", None),
    ("extra_pod_config", None),
):
    set_config_if_not_none(c.KubeSpawner, _trait, "singleuser." + (_key or _camel(_trait)))

_image = get_config("singleuser.image.name")
if _image:
    _tag = get_config("singleuser.image.tag")
    c.KubeSpawner.image = f"{_image}:{_tag}" if _tag else _image
c.KubeSpawner.allow_privilege_escalation = get_config("singleuser.allowPrivilegeEscalation")
if get_config("scheduling.userScheduler.enabled"):
    c.KubeSpawner.scheduler_name = get_name("user-scheduler")

_purpose = get_config("scheduling.userPods.nodeAffinity.matchNodePurpose")
_purpose_term = {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}]}
if _purpose == "prefer":
    c.KubeSpawner.node_affinity_preferred.append({"weight": 100, "preference": _purpose_term})
elif _purpose == "require":
    c.KubeSpawner.node_affinity_required.append(_purpose_term)
_tolerations = get_config("scheduling.userPods.tolerations", []) + get_config("singleuser.extraTolerations", [])
if _tolerations:
    c.KubeSpawner.tolerations = _tolerations

_volumes, _mounts = {}, {}
_storage = get_config("singleuser.storage.type")
if _storage == "dynamic":
    _name = get_config("singleuser.storage.dynamic.volumeNameTemplate")
    c.KubeSpawner.storage_pvc_ensure = True
    set_config_if_not_none(c.KubeSpawner, "storage_class", "singleuser.storage.dynamic.storageClass")
    set_config_if_not_none(c.KubeSpawner, "storage_access_modes", "singleuser.storage.dynamic.storageAccessModes")
    set_config_if_not_none(c.KubeSpawner, "storage_capacity", "singleuser.storage.capacity")
    _volumes = {_name: {"name": _name, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}}
    _mounts = {
        _name: {
            "mountPath": get_config("singleuser.storage.homeMountPath"),
            "name": _name,
            "subPath": get_config("singleuser.storage.dynamic.subPath"),
        }
    }
elif _storage == "static":
    raise NotImplementedError("singleuser.storage.type static: not emulated (this project does not use it)")

_files = get_config("singleuser.extraFiles", {})
if _files:
    _items = [{"key": k, "path": k, **({"mode": f["mode"]} if "mode" in f else {})} for k, f in _files.items()]
    _volumes["files"] = {"name": "files", "secret": {"secretName": get_name("singleuser"), "items": _items}}
    for _i, (_key, _file) in enumerate(_files.items()):
        _mounts[f"{_i}-files"] = {"mountPath": _file["mountPath"], "subPath": _key, "name": "files"}
for _volume in get_config("singleuser.storage.extraVolumes", default=None) or []:
    _volumes[_volume["name"]] = _volume
for _i, _mount in enumerate(get_config("singleuser.storage.extraVolumeMounts", default=None) or []):
    _mounts[f"{_i}-{_mount['name']}"] = _mount
c.KubeSpawner.volumes = _volumes
c.KubeSpawner.volume_mounts = _mounts

c.JupyterHub.services = []
c.JupyterHub.load_roles = []
if get_config("cull.enabled", False):
    _cull = ["python3", "-m", "jupyterhub_idle_culler"]
    _cull.append("--url=http://localhost:8081" + url_path_join(c.JupyterHub.get("base_url", "/"), "hub/api"))
    _cull += [f"--timeout={get_config('cull.timeout')}", f"--cull-every={get_config('cull.every')}"]
    _cull.append(f"--concurrency={get_config('cull.concurrency')}")
    _scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if get_config("cull.users"):
        _cull.append("--cull-users")
        _scopes.append("admin:users")
    if not get_config("cull.adminUsers"):
        _cull.append("--cull-admin-users=false")
    if get_config("cull.removeNamedServers"):
        _cull.append("--remove-named-servers")
    if get_config("cull.maxAge"):
        _cull.append(f"--max-age={get_config('cull.maxAge')}")
    c.JupyterHub.services.append({"name": "jupyterhub-idle-culler", "command": _cull})
    c.JupyterHub.load_roles.append(
        {"name": "jupyterhub-idle-culler", "scopes": _scopes, "services": ["jupyterhub-idle-culler"]}
    )
for _key, _service in get_config("hub.services", {}).items():
    _service.setdefault("name", _key)
    _service.pop("apiToken", None)
    _service["api_token"] = get_secret_value(f"hub.services.{_key}.apiToken")
    c.JupyterHub.services.append(_service)
for _key, _role in get_config("hub.loadRoles", {}).items():
    _role.setdefault("name", _key)
    c.JupyterHub.load_roles.append(_role)

_unset = object()
if (_cmd := get_config("singleuser.cmd", _unset)) is not _unset:
    c.Spawner.cmd = _cmd
set_config_if_not_none(c.Spawner, "default_url", "singleuser.defaultUrl")

_metadata = get_config("singleuser.cloudMetadata")
if _metadata.get("blockWithIptables") is True:
    _tools = get_config("singleuser.networkTools.image")
    c.KubeSpawner.init_containers.append(
        {
            "name": "block-cloud-metadata",
            "image": f"{_tools['name']}:{_tools['tag']}",
            "command": [
                *("iptables", "--append", "OUTPUT", "--protocol", "tcp"),
                *("--destination", _metadata["ip"], "--destination-port", "80", "--jump", "DROP"),
            ],
            "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
            **({"resources": r} if (r := get_config("singleuser.networkTools.resources")) else {}),
        }
    )

c.JupyterHub.cookie_secret = get_secret_value("hub.config.JupyterHub.cookie_secret")
c.CryptKeeper.keys = get_secret_value("hub.config.CryptKeeper.keys").split(";")

for _section, _cfg in get_config("hub.config", {}).items():
    if not _section[:1].isupper():
        print(f"FATAL: Invalid hub.config section name: {_section}.", file=sys.stderr)
        sys.exit(1)
    _seeded = {"JupyterHub": ("proxy_auth_token", "cookie_secret", "services")}
    _seeded.update({"ConfigurableHTTPProxy": ("auth_token",), "CryptKeeper": ("keys",)})
    for _secret in _seeded.get(_section, ()):
        _cfg.pop(_secret, None)
    c[_section].update(_cfg)

_config_d = os.path.join(_etc, "jupyterhub_config.d")
for _path in sorted(glob.glob(f"{_config_d}/*.py")):
    with open(_path) as _f:
        exec(compile(source=_f.read(), filename=os.path.basename(_path), mode="exec"))  # noqa: S102 - as the chart

for _key, _code in sorted(get_config("hub.extraConfig", {}).items()):
    exec(_code)  # noqa: S102 - as the chart
