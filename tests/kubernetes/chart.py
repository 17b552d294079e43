"""The Zero to JupyterHub chart 4.4.0 without Helm or a cluster: values as Helm merges them, the hub pod's files and
environment as the chart mounts and sets them, and its jupyterhub_config.py run by JupyterHub's own config loader.

The hub pod is materialised under a directory standing for ``/`` (files under ``usr/local/etc/jupyterhub/``):
``secret/values.yaml`` and the generated secrets (the chart's hub Secret), ``config/`` (resource names, the chart's
ConfigMap), the ``hub.extraFiles`` at their mount paths, and ``jupyterhub_config.py``: a stand-in for the chart's
(``chart_jupyterhub_config.py`` here) that does what the chart's does for the values this project uses, with helpers
behaving like the chart's ``z2jh.py``. Environment values pointing into ``/usr/local/etc/jupyterhub/`` are pointed
into that directory.
ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/tree/4.4.0/jupyterhub/files/hub
"""

import copy
import os
import re
import shutil
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml

from tests.fixtures.tools import missing_tool

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("Z2JH_REFERENCE_DIR", REPO.parent / "shared" / "reference" / "z2jh-4.4.0"))
VALUES_FILE = REPO / "helm" / "values.yaml"
ETC = "usr/local/etc/jupyterhub"
CHART = {"Name": "jupyterhub", "Version": "4.4.0", "AppVersion": "5.5.0"}
RELEASE = {"Name": "jupyterhub", "Namespace": "jupyterhub", "Service": "Helm"}
# What the chart seeds into its hub Secret (any values; the tests assert they never leak).
CHART_SECRETS = {
    "hub.config.ConfigurableHTTPProxy.auth_token": "proxy-token-e5a7c1",
    "hub.config.JupyterHub.cookie_secret": "c0ffee" * 10 + "c0ff",
    "hub.config.CryptKeeper.keys": "5e" * 32,
}
# Resource names with the chart's default naming (fullnameOverride: ""), as its ConfigMap lists them. Namespaced
# resources get no prefix; cluster-wide names (the priority class, the scheduler's registered name) take the release
# name so that two releases cannot collide.
# ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.4.0/jupyterhub/templates/_helpers-names.tpl
RESOURCE_NAMES = {
    "hub": "hub",
    "proxy-api": "proxy-api",
    "proxy-public": "proxy-public",
    "singleuser": "singleuser",
    "user-scheduler-deploy": "user-scheduler",
    "user-scheduler": f"{RELEASE['Name']}-user-scheduler",
    "image-pull-secret": "image-pull-secret",
    "priority": f"{RELEASE['Name']}-default-priority",
}
HUB_POD_IP = "10.0.12.7"
# Kubernetes sets these in every pod for the Services of its namespace.
SERVICE_ENV = {"HUB_SERVICE_PORT": "8081", "PROXY_API_SERVICE_PORT": "8001", "PROXY_PUBLIC_SERVICE_PORT": "80"}


def reference_file(name: str) -> Path:
    """A file of the chart's reference data; skips (laptop) or fails (CI) when the folder is absent."""
    path = REFERENCE / name
    if not path.is_file():
        missing_tool(
            f"the Zero to JupyterHub 4.4.0 reference data ({path})",
            "put the chart's reference files (values.yaml, values.schema.yaml, hub-requirements.txt) in "
            "../shared/reference/z2jh-4.4.0/ or set Z2JH_REFERENCE_DIR",
        )
    return path


def helm_merge(base, override):
    """Helm's merge of a values file onto values: maps merge key by key, anything else replaces, null deletes."""
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        return copy.deepcopy(override)
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def without_nulls(values):
    if isinstance(values, Mapping):
        return {key: without_nulls(value) for key, value in values.items() if value is not None}
    return values


def resolve_env(entries: Mapping, secrets: dict, fields: dict, earlier: dict) -> dict[str, str]:
    """The chart's extraEnv map as the kubelet resolves it: in name order (the order the chart writes them), Secrets
    read from ``secrets``, Downward API fields from ``fields``, and $(NAME) expanded from variables defined earlier."""
    env = dict(earlier)
    resolved = {}
    for name in sorted(entries):
        spec = entries[name]
        spec = {"value": spec} if isinstance(spec, str) else spec
        if "value" in spec:
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), spec["value"])
        elif "secretKeyRef" in spec.get("valueFrom", {}):
            ref = spec["valueFrom"]["secretKeyRef"]
            try:
                value = secrets[ref["name"]][ref["key"]]
            except KeyError:
                # An optional reference to a missing Secret or key leaves the variable unset; any other stops the pod.
                # ref: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#environment-variables
                if ref.get("optional"):
                    continue
                raise AssertionError(f"env {name}: Secret {ref['name']!r} has no key {ref['key']!r}") from None
        elif "fieldRef" in spec.get("valueFrom", {}):
            value = fields[spec["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"env {name}: unsupported {spec}")
        env[spec.get("name", name)] = resolved[spec.get("name", name)] = value
    return resolved


class HubPod:
    """The hub container's file system (under ``root``) and environment, as the chart 4.4.0 gives them."""

    def __init__(self, values: dict, root: Path, cluster_secrets: dict):
        self.values, self.root = values, root
        etc = root / ETC
        (etc / "secret").mkdir(parents=True)
        (etc / "config").mkdir()
        # Keys left null (nameOverride, ...) are absent from the chart's copy: its code relies on that, e.g.
        # get_config("nameOverride", default=<chart name>) for the `app` label its network policies select on.
        chart_values = {**without_nulls(values), "Chart": CHART, "Release": RELEASE}
        # Paths in hub.config that point into the container's /usr/local/etc/jupyterhub/ point under `root` here.
        hub_values = chart_values["hub"] = dict(chart_values["hub"])
        hub_values["config"] = self._paths_under_root(hub_values.get("config") or {})
        (etc / "secret" / "values.yaml").write_text(yaml.safe_dump(chart_values))
        for key, value in CHART_SECRETS.items():
            (etc / "secret" / key).write_text(value)
        for key in values["hub"].get("services") or {}:
            (etc / "secret" / f"hub.services.{key}.apiToken").write_text(f"service-token-{key}")
        for name, full_name in RESOURCE_NAMES.items():
            (etc / "config" / name).write_text(full_name)
        for key, spec in (values["hub"].get("extraFiles") or {}).items():
            self.write_file(spec["mountPath"], spec, key)
        shutil.copy(Path(__file__).with_name("chart_jupyterhub_config.py"), etc / "jupyterhub_config.py")
        # The chart's hub Secret, as secretKeyRef sees it, next to the cluster's own Secrets.
        secrets = {**cluster_secrets, RESOURCE_NAMES["hub"]: dict(CHART_SECRETS)}
        fixed = {
            "PYTHONUNBUFFERED": "1",
            "HELM_RELEASE_NAME": RELEASE["Name"],
            "POD_NAMESPACE": RELEASE["Namespace"],
            "CONFIGPROXY_AUTH_TOKEN": CHART_SECRETS["hub.config.ConfigurableHTTPProxy.auth_token"],
            "CHART_HUB_ROOT": str(root),
        }
        fields = {
            "metadata.namespace": RELEASE["Namespace"],
            "metadata.name": "hub-5d8c7b9f4-x2x7q",
            "status.podIP": HUB_POD_IP,
        }
        extra = resolve_env(values["hub"].get("extraEnv") or {}, secrets, fields, {**SERVICE_ENV, **fixed})
        self.env = {**SERVICE_ENV, **fixed, **{k: self.path(v) for k, v in extra.items()}}

    def _paths_under_root(self, value):
        if isinstance(value, dict):
            return {k: self._paths_under_root(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._paths_under_root(v) for v in value]
        return self.path(value) if isinstance(value, str) else value

    def path(self, value: str) -> str:
        """An absolute path inside the hub container, as a path on this machine."""
        prefix = f"/{ETC}/"
        return str(self.root / value.lstrip("/")) if value.startswith(prefix) else value

    def write_file(self, mount_path: str, spec: dict, key: str) -> None:
        if not mount_path.startswith(f"/{ETC}/"):
            raise AssertionError(f"hub.extraFiles.{key}: mount it under /{ETC}/ (this emulation maps only that)")
        target = Path(self.path(mount_path))
        target.parent.mkdir(parents=True, exist_ok=True)
        if "stringData" in spec:
            target.write_text(spec["stringData"])
        else:
            target.write_text(yaml.safe_dump(spec["data"]))

    @property
    def config_file(self) -> Path:
        return self.root / ETC / "jupyterhub_config.py"


# ---- what the chart's z2jh.py offers jupyterhub_config.py, reading the files HubPod wrote ---------------------------

_UNSET = object()


def _etc() -> Path:
    return Path(os.environ["CHART_HUB_ROOT"]) / ETC


@lru_cache(maxsize=8)
def _values(path: str) -> dict:
    # Read once per hub pod, as the chart's z2jh.py does (its callers may change what they get: give copies).
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def get_config(key, default=None):
    """A chart value by dotted key (``hub.db.type``), or ``default`` when any level is missing."""
    value = copy.deepcopy(_values(str(_etc() / "secret" / "values.yaml")))
    for level in key.split("."):
        if not isinstance(value, dict) or level not in value:
            return default
        value = value[level]
    return value


def get_secret_value(key, default=_UNSET):
    path = _etc() / "secret" / key
    if path.exists():
        return path.read_text()
    if default is not _UNSET:
        return default
    raise KeyError(f"{key} not found in the chart's Secret")


def get_name(name):
    return (_etc() / "config" / name).read_text()


def get_name_env(name, suffix=""):
    return os.environ[(get_name(name) + suffix).upper().replace("-", "_")]


def set_config_if_not_none(parent, name, key):
    value = get_config(key)
    if value is not None:
        setattr(parent, name, value)


# ---- the chart's NetworkPolicy templates for the hub and user pods, rendered from values ----------------------------
# ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/tree/4.4.0/jupyterhub/templates (netpol.yaml files and
# _helpers-netpol.tpl)

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def _match_labels(component: str) -> dict:
    return {"component": component, "app": CHART["Name"], "release": RELEASE["Name"]}


def _egress_allow_rules(values: dict, netpol: dict) -> list[dict]:
    allow, metadata_ip = netpol["egressAllowRules"], values["singleuser"]["cloudMetadata"]["ip"]
    rules = []
    dns_to = []
    if allow["dnsPortsCloudMetadataServer"]:
        dns_to.append({"ipBlock": {"cidr": f"{metadata_ip}/32"}})
    if allow["dnsPortsKubeSystemNamespace"]:
        dns_to.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}})
    if allow["dnsPortsPrivateIPs"]:
        dns_to += [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE_RANGES]
    if dns_to:
        rules.append({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "to": dns_to})
    if allow["nonPrivateIPs"]:
        except_ = [*PRIVATE_RANGES, f"{metadata_ip}/32"]
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": except_}}]})
    if allow["privateIPs"]:
        rules.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE_RANGES]})
    if allow["cloudMetadataServer"]:
        rules.append({"to": [{"ipBlock": {"cidr": f"{metadata_ip}/32"}}]})
    return rules + list(netpol.get("egress") or [])


def _network_policy(name: str, component: str, ingress: list, egress: list) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": RELEASE["Namespace"], "labels": _match_labels(component)},
        "spec": {
            "podSelector": {"matchLabels": _match_labels(component)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _allowed_ports_rule(netpol: dict) -> list[dict]:
    ports = netpol.get("allowedIngressPorts") or []
    return [{"ports": [{"port": port} for port in ports]}] if ports else []


def singleuser_network_policy(values: dict) -> dict:
    netpol = values["singleuser"]["networkPolicy"]
    ingress = [
        *_allowed_ports_rule(netpol),
        {
            "ports": [{"port": "notebook-port"}],
            "from": [{"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-singleuser": "true"}}}],
        },
        *(netpol.get("ingress") or []),
    ]
    egress = [
        {"to": [{"podSelector": {"matchLabels": _match_labels("hub")}}], "ports": [{"port": 8081}]},
        {"to": [{"podSelector": {"matchLabels": _match_labels("proxy")}}], "ports": [{"port": 8000}]},
        {
            "to": [{"podSelector": {"matchLabels": _match_labels("autohttps")}}],
            "ports": [{"port": 8080}, {"port": 8443}],
        },
        *_egress_allow_rules(values, netpol),
    ]
    return _network_policy(RESOURCE_NAMES["singleuser"], "singleuser-server", ingress, egress)


def hub_network_policy(values: dict) -> dict:
    netpol = values["hub"]["networkPolicy"]
    ingress = [
        *_allowed_ports_rule(netpol),
        {
            "ports": [{"port": "http"}],
            "from": [{"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-hub": "true"}}}],
        },
        *(netpol.get("ingress") or []),
    ]
    egress = [
        {"to": [{"podSelector": {"matchLabels": _match_labels("proxy")}}], "ports": [{"port": 8001}]},
        {"to": [{"podSelector": {"matchLabels": _match_labels("singleuser-server")}}], "ports": [{"port": 8888}]},
        *_egress_allow_rules(values, netpol),
    ]
    return _network_policy(RESOURCE_NAMES["hub"], "hub", ingress, egress)


def proxy_network_policy(values: dict) -> dict:
    netpol = values["proxy"]["chp"]["networkPolicy"]
    ingress = [
        *_allowed_ports_rule(netpol),
        {
            "ports": [{"port": "http"}],
            "from": [{"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-proxy-http": "true"}}}],
        },
        {
            "ports": [{"port": "api"}],
            "from": [{"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-proxy-api": "true"}}}],
        },
        *(netpol.get("ingress") or []),
    ]
    egress = [
        {"to": [{"podSelector": {"matchLabels": _match_labels("hub")}}], "ports": [{"port": 8081}]},
        {"to": [{"podSelector": {"matchLabels": _match_labels("singleuser-server")}}], "ports": [{"port": 8888}]},
        *_egress_allow_rules(values, netpol),
    ]
    return _network_policy("proxy", "proxy", ingress, egress)
