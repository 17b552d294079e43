"""The network policies the chart renders from the values: user servers reach the broker and S3, not the instance
metadata service; the broker's port on the hub pod admits user servers only. Evaluated rule by rule as a network
plugin enforcing NetworkPolicy does (allowed when any rule matches both a peer and a port)."""

import ipaddress
from dataclasses import dataclass, field

import kubernetes_validate
import pytest

from tests.kubernetes.chart import (
    CHART,
    HUB_POD_IP,
    RELEASE,
    helm_merge,
    hub_network_policy,
    proxy_network_policy,
    singleuser_network_policy,
)

pytestmark = pytest.mark.kubernetes

NAMESPACE_LABELS = {"kubernetes.io/metadata.name": RELEASE["Namespace"]}
CHART_LABELS = {"app": CHART["Name"], "release": RELEASE["Name"]}


@dataclass(frozen=True)
class Endpoint:
    """A destination (or source): an address, and for a pod its labels, namespace labels and named ports."""

    ip: str
    labels: dict = field(default_factory=dict)
    namespace_labels: dict | None = None  # None: not a pod (an address outside the cluster)
    named_ports: dict = field(default_factory=dict)


HUB_POD = Endpoint(
    HUB_POD_IP, {**CHART_LABELS, "component": "hub"}, NAMESPACE_LABELS, {"http": 8081, "aws-broker": 8181}
)
USER_POD = Endpoint(
    "10.0.40.21",
    {**CHART_LABELS, "component": "singleuser-server", "hub.jupyter.org/network-access-hub": "true"},
    NAMESPACE_LABELS,
    {"notebook-port": 8888},
)
PROXY_POD = Endpoint(
    "10.0.31.5", {**CHART_LABELS, "component": "proxy", "hub.jupyter.org/network-access-hub": "true"}, NAMESPACE_LABELS
)
OTHER_POD = Endpoint("10.0.7.3", {"app": "grafana", "hub.jupyter.org/network-access-hub": "true"}, NAMESPACE_LABELS)
COREDNS = Endpoint("10.0.2.10", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"})
INSTANCE_METADATA = Endpoint("169.254.169.254")
POD_IDENTITY_AGENT = Endpoint("169.254.170.23")
S3 = Endpoint("52.217.10.4")  # s3.us-east-1.amazonaws.com
CUSTOM_NETWORKING_POD = Endpoint("100.64.3.9")


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(peer: dict, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if endpoint.namespace_labels is None:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], endpoint.namespace_labels)
    else:
        namespace_ok = endpoint.namespace_labels == NAMESPACE_LABELS  # podSelector alone: the policy's namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), endpoint.labels)


def _port_matches(rule_port: dict, named_ports: dict, port: int, protocol: str) -> bool:
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    wanted = rule_port.get("port")
    if isinstance(wanted, str):  # a named port of the pod receiving the traffic
        return named_ports.get(wanted) == port
    return wanted is None or wanted == port


def allowed(rules: list[dict], direction: str, peer: Endpoint, port: int, protocol: str = "TCP", receiver=None) -> bool:
    """Whether ``rules`` let traffic to ``port`` pass from (ingress) or to (egress) ``peer``."""
    peers_key = "to" if direction == "egress" else "from"
    named_ports = (peer if direction == "egress" else receiver).named_ports
    for rule in rules:
        peers_ok = not rule.get(peers_key) or any(_peer_matches(p, peer) for p in rule[peers_key])
        ports_ok = not rule.get("ports") or any(_port_matches(p, named_ports, port, protocol) for p in rule["ports"])
        if peers_ok and ports_ok:
            return True
    return False


@pytest.fixture
def user_egress(merged_values):
    return singleuser_network_policy(merged_values)["spec"]["egress"]


@pytest.fixture
def hub_policy(merged_values):
    return hub_network_policy(merged_values)["spec"]


@pytest.mark.parametrize("render", [singleuser_network_policy, hub_network_policy, proxy_network_policy])
def test_the_policies_are_valid_kubernetes_1_32_objects(merged_values, render):
    kubernetes_validate.validate(render(merged_values), "1.32.0", strict=True)


@pytest.mark.parametrize(
    ("destination", "port", "protocol", "expected"),
    [
        (HUB_POD, 8181, "TCP", True),  # the credential broker
        (HUB_POD, 8081, "TCP", True),  # the hub's API
        (S3, 443, "TCP", True),
        (COREDNS, 53, "UDP", True),
        (INSTANCE_METADATA, 80, "TCP", False),
        (INSTANCE_METADATA, 53, "UDP", False),
        (POD_IDENTITY_AGENT, 80, "TCP", False),
        (CUSTOM_NETWORKING_POD, 8888, "TCP", False),
        (USER_POD, 8888, "TCP", False),  # another person's server
        (HUB_POD, 5432, "TCP", False),
        (Endpoint("10.0.99.1"), 443, "TCP", False),  # anything else in the VPC
    ],
)
def test_what_user_servers_may_reach(user_egress, destination, port, protocol, expected):
    assert allowed(user_egress, "egress", destination, port, protocol) is expected


@pytest.mark.parametrize(
    ("source", "port", "expected"),
    [
        (USER_POD, 8181, True),
        (PROXY_POD, 8181, True),  # the broker's access page, for people's browsers
        (OTHER_POD, 8181, False),  # labelled for the hub's API, but not a user server
        (OTHER_POD, 8081, True),  # the chart's own rule for the hub's API
        (S3, 8181, False),
    ],
)
def test_who_may_reach_the_hub_pod(hub_policy, source, port, expected):
    assert allowed(hub_policy["ingress"], "ingress", source, port, receiver=HUB_POD) is expected


def test_the_proxy_reaches_the_brokers_page_and_not_the_metadata_service(merged_values):
    egress = proxy_network_policy(merged_values)["spec"]["egress"]
    assert allowed(egress, "egress", HUB_POD, 8181) is True
    assert allowed(egress, "egress", HUB_POD, 8081) is True
    assert allowed(egress, "egress", INSTANCE_METADATA, 80) is False


def test_the_hub_itself_cannot_reach_the_metadata_service(hub_policy):
    assert allowed(hub_policy["egress"], "egress", INSTANCE_METADATA, 80) is False
    assert allowed(hub_policy["egress"], "egress", Endpoint("20.190.151.7"), 443) is True  # Entra ID, STS: public


def test_why_the_charts_public_address_rule_is_replaced(merged_values):
    """With the chart's own rule (nonPrivateIPs) a user server could reach the EKS Pod Identity agent."""
    chart_rule = helm_merge(
        merged_values, {"singleuser": {"networkPolicy": {"egressAllowRules": {"nonPrivateIPs": True}, "egress": []}}}
    )
    egress = singleuser_network_policy(chart_rule)["spec"]["egress"]
    assert allowed(egress, "egress", POD_IDENTITY_AGENT, 80) is True
    assert allowed(egress, "egress", INSTANCE_METADATA, 80) is False
