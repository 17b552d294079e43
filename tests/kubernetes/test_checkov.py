"""checkov on what this project puts into the cluster (the user pod, its Secret, the network policies, all rendered
here) and on the two Dockerfiles. checkov lives in its own virtualenv (`make checkov-venv`).

Skipped checks are justified where they are skipped: in the Dockerfiles (`# checkov:skip=`) and, for the rendered
objects, below (as checkov's `checkov.io/skip<n>` annotations and skip comments, on the copies scanned here only)."""

import json
import re
import subprocess

import pytest
import yaml

from tests.fixtures.tools import missing_tool, require_executable
from tests.kubernetes.chart import REPO, hub_network_policy, proxy_network_policy, singleuser_network_policy
from tests.kubernetes.conftest import DEMO_POLICY, FakeUser, eligible_roles
from tests.kubernetes.test_user_pod import build_user_pod

pytestmark = pytest.mark.kubernetes

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
DOCKERFILES = [REPO / "hub" / "images" / "hub" / "Dockerfile", REPO / "hub" / "images" / "user" / "Dockerfile"]

# Why the user pod may fail these checks. checkov judges the pod as a whole; each reason says which container.
# The block-cloud-metadata init container is the chart's (singleuser.cloudMetadata.blockWithIptables): it runs iptables
# once, before any user code, and exits.
INIT = "the chart's block-cloud-metadata init container only"
USER_POD_SKIPS = {
    "CKV_K8S_16": f"privileged: {INIT} (iptables in the pod's network namespace); the notebook container is not",
    "CKV_K8S_20": f"allowPrivilegeEscalation not false: {INIT}; the notebook container sets it false",
    "CKV_K8S_22": f"writable root file system: {INIT} (iptables takes a lock under /run); the notebook's is read-only",
    "CKV_K8S_23": f"runs as root: {INIT}; the notebook container runs as 1000 with runAsNonRoot",
    "CKV_K8S_25": f"adds NET_ADMIN: {INIT}; the notebook container drops ALL",
    "CKV_K8S_28": f"NET_RAW not dropped: {INIT}; the notebook container drops ALL",
    "CKV_K8S_37": f"capabilities not dropped: {INIT}; the notebook container drops ALL",
    "CKV_K8S_40": "uid 1000 (jovyan, the chart's singleuser.uid and the image's owner of home): with no host mounts, "
    "no capabilities and no privilege escalation, sharing a uid with the host gives nothing",
    "CKV_K8S_43": "images by tag, not digest: the user image's tag is a per-build git commit (the generator also takes "
    "tag@sha256:...); the init container's is the chart's pinned network-tools tag",
    "CKV_K8S_15": "pull policy IfNotPresent: images are tagged per build (the generator refuses `latest`), so a tag "
    "never changes its content; Always would only slow every server start",
    "CKV_K8S_35": "the token arrives as an environment variable from the Secret (secretKeyRef) because that is how "
    "jupyterhub-singleuser and the credential helper read it; what matters, no value in the pod spec, holds",
    "CKV_K8S_8": "no liveness probe: KubeSpawner defines none; the hub polls each server and the culler stops idle "
    "ones, and a probe-triggered restart would kill people's kernels",
    "CKV_K8S_9": "no readiness probe: KubeSpawner waits for the server itself (the hub checks its API) before routing",
}
SECRET_SKIP = "CKV_SECRET_6: the Secret holds the server's token by design, base64 as Kubernetes stores it"


def skip_annotations(skips: dict) -> dict:
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(skips.items(), 1)}


def bootstrap_checkov():
    """checkov in its own virtualenv (requirements/checkov.txt), made by `make checkov-venv` as for Terraform."""
    make = require_executable("make", "install GNU make")
    bootstrap = subprocess.run([make, "-C", str(REPO), "checkov-venv"], capture_output=True, text=True, timeout=600)
    assert bootstrap.returncode == 0, f"make checkov-venv failed:\n{bootstrap.stdout}\n{bootstrap.stderr}"
    if not CHECKOV.exists():
        missing_tool("checkov", "`make checkov-venv` installs it into .venv-checkov (requirements/checkov.txt)")


def run_checkov(files) -> list[dict]:
    bootstrap_checkov()
    args = [str(CHECKOV), "--compact", "--skip-download", "--output", "json"]
    for file in files:
        args += ["--file", str(file)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False, cwd=REPO)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def failures(reports) -> list[str]:
    return sorted(
        f"{check['check_id']} {check['file_path']} {check['resource']}: {check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    )


@pytest.fixture
async def rendered(hub_app, merged_values, tmp_path):
    """The objects this project adds to the cluster, as YAML files."""
    user = FakeUser("ana", {"eligible_roles": eligible_roles(DEMO_POLICY, "analysts")})
    _, pod, secret = await build_user_pod(hub_app, user)
    pod["metadata"]["namespace"] = "jupyterhub"
    pod["metadata"].setdefault("annotations", {}).update(skip_annotations(USER_POD_SKIPS))
    objects = {
        "user-pod.yaml": pod,
        "user-env-secret.yaml": secret,
        "netpol-singleuser.yaml": singleuser_network_policy(merged_values),
        "netpol-hub.yaml": hub_network_policy(merged_values),
        "netpol-proxy.yaml": proxy_network_policy(merged_values),
    }
    for name, document in objects.items():
        text = yaml.safe_dump(document)
        if document["kind"] == "Secret":  # checkov's secret scan is skipped on the line holding the value
            text = re.sub(r"(?m)^(  [A-Z_]+: \S+)$", rf"\1 # checkov:skip={SECRET_SKIP}", text)
        (tmp_path / name).write_text(text)
    return [tmp_path / name for name in objects]


def test_checkov_passes_on_the_rendered_objects_and_the_dockerfiles(rendered):
    reports = run_checkov([*rendered, *DOCKERFILES])
    frameworks = {report.get("check_type") for report in reports}
    assert frameworks >= {"kubernetes", "dockerfile"}, f"checkov scanned {frameworks}"
    passed = sum(report.get("summary", {}).get("passed", 0) for report in reports)
    assert passed > 50, "checkov ran its checks"
    assert failures(reports) == []
    skipped = {check["check_id"] for report in reports for check in report["results"].get("skipped_checks", [])}
    # (checkov's secret scan drops what a skip comment suppresses rather than listing it)
    assert skipped == {*USER_POD_SKIPS, "CKV_DOCKER_2"}, "a skip that no longer applies goes"
