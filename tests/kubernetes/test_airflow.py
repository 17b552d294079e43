"""Scheduled runs on Kubernetes (issue 13): the Airflow chart's values (helm/airflow-values.yaml), the pod every
notebook run gets (its podTemplate, rendered as the chart's `tpl` renders it), and the job pods' network policy
(helm/airflow-job-network-policy.yaml), validated against the Kubernetes 1.32 schemas.

What they promise: no AWS permission or credential anywhere in Airflow, no secret value in a pod spec (the scheduler's
hub token is a secretKeyRef), no instance metadata, job pods reaching exactly the broker, the Execution API, DNS and
S3; the UI's sign-in reading the files the values mount. The Airflow chart's own values schema is not available here
(not in ../shared/reference), so the values are not validated against it: helm/README.md says how to do that with
`helm template`."""

import copy
import re

import kubernetes_validate
import pytest
import yaml

from authenticator.airflow_ui import ACCESS_POLICY_FILE, CLIENT_SECRET_FILE
from hub.broker.contract import DEFAULT_PORT, SERVICE_PREFIX
from hub.kubernetes_secrets import is_secret_env_name
from hub.spawn import FORBIDDEN_VARIABLES
from scheduler.run_as import RUN_AS_USER_ENV, SWITCH_CAPABILITIES
from tests.kubernetes.chart import REPO, hub_network_policy
from tests.kubernetes.test_checkov import failures, run_checkov, skip_annotations
from tests.kubernetes.test_images import hashed_pins, instructions, pins
from tests.kubernetes.test_network_policy import (
    COREDNS,
    CUSTOM_NETWORKING_POD,
    HUB_POD,
    INSTANCE_METADATA,
    NAMESPACE_LABELS,
    POD_IDENTITY_AGENT,
    S3,
    USER_POD,
    Endpoint,
    allowed,
)

pytestmark = pytest.mark.kubernetes

KUBERNETES_VERSION = "1.32.0"
AIRFLOW_VALUES = REPO / "helm" / "airflow-values.yaml"
AIRFLOW_IMAGE_DIR = REPO / "hub" / "images" / "airflow"
JOB_NETWORK_POLICY = REPO / "helm" / "airflow-job-network-policy.yaml"
RELEASE = "airflow"
# What an administrator's site values add (helm/README.md, "Scheduled runs"): the image and the app registration.
AIRFLOW_IMAGE = ("123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-airflow", "3f2a9c1")
BROKER_URL = "http://hub:8181/services/aws-credentials/"
# The chart's template expressions the pod template uses, and what they give for release `airflow` in the hub's
# namespace (the chart's helpers: airflow_config is "<fullname>-config", fullname is the release name when the
# release name contains the chart name).
TEMPLATE_VALUES = {
    ".Release.Name": RELEASE,
    'include "airflow_config" .': f"{RELEASE}-config",
    ".Values.images.airflow.repository": AIRFLOW_IMAGE[0],
    ".Values.images.airflow.tag": AIRFLOW_IMAGE[1],
}
# Pods of the Airflow release, as the chart labels them, and the job pods' own peers.
AIRFLOW_LABELS = {"tier": "airflow", "release": RELEASE}
JOB_POD = Endpoint("10.0.50.9", {**AIRFLOW_LABELS, "component": "worker"}, NAMESPACE_LABELS)
DAG_PROCESSOR = Endpoint("10.0.50.3", {**AIRFLOW_LABELS, "component": "dag-processor"}, NAMESPACE_LABELS)
SCHEDULER = Endpoint("10.0.50.4", {**AIRFLOW_LABELS, "component": "scheduler"}, NAMESPACE_LABELS)
API_SERVER = Endpoint("10.0.50.5", {**AIRFLOW_LABELS, "component": "api-server"}, NAMESPACE_LABELS)


def render(template: str) -> str:
    """Helm's `tpl` for the expressions the pod template uses; any other expression fails the test."""

    def value(match):
        expression = match[1].strip()
        if expression not in TEMPLATE_VALUES:
            raise AssertionError(f"the pod template uses {{{{ {expression} }}}}, which this test does not render")
        return TEMPLATE_VALUES[expression]

    return re.sub(r"\{\{(.*?)\}\}", value, template)


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load(AIRFLOW_VALUES.read_text())


@pytest.fixture(scope="module")
def job_pod(values):
    return yaml.safe_load(render(values["podTemplate"]))


@pytest.fixture(scope="module")
def job_policy():
    return yaml.safe_load(JOB_NETWORK_POLICY.read_text())


def base(pod) -> dict:
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "base"]  # the name the executor requires
    return container


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def walk(node, path=()):
    """Every (path, value) in a values tree."""
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, (*path, index))


# ---- the job pod ---------------------------------------------------------------------------------------------------


def test_the_job_pod_is_a_valid_kubernetes_1_32_pod(job_pod):
    assert job_pod["kind"] == "Pod" and job_pod["apiVersion"] == "v1"
    kubernetes_validate.validate(job_pod, KUBERNETES_VERSION, strict=True)


def test_the_validation_is_not_vacuous(job_pod):
    broken = copy.deepcopy(job_pod)
    base(broken)["securityContext"]["readOnlyRootFilesystem"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_job_pod_runs_the_airflow_image(job_pod):
    assert base(job_pod)["image"] == ":".join(AIRFLOW_IMAGE)


def test_the_schedulers_token_is_a_secret_reference_and_no_secret_value_is_in_the_pod(job_pod):
    env = env_of(base(job_pod))
    assert env["NOTEBOOK_SCHEDULER_TOKEN"] == {"secretKeyRef": {"name": "notebook-scheduler", "key": "token"}}
    literal_secrets = {
        name: value
        for container in job_pod["spec"]["containers"] + job_pod["spec"]["initContainers"]
        for name, value in env_of(container).items()
        if is_secret_env_name(name) and "secretKeyRef" not in (value if isinstance(value, dict) else {})
    }
    assert literal_secrets == {}
    assert not any("secret" in volume for volume in job_pod["spec"]["volumes"]), "no secret volume either"


def test_the_job_pod_has_no_aws_credentials_and_never_asks_the_instance_metadata_service(job_pod):
    env = env_of(base(job_pod))
    assert [name for name in env if name in FORBIDDEN_VARIABLES] == []
    assert {name: value for name, value in env.items() if name.startswith("AWS_")} == {
        "AWS_EC2_METADATA_DISABLED": "true"
    }
    assert env["NOTEBOOK_SCHEDULER_BROKER_URL"] == BROKER_URL == f"http://hub:{DEFAULT_PORT}{SERVICE_PREFIX}"


def test_the_job_pod_reaches_the_broker_where_user_servers_do(job_pod):
    project_values = yaml.safe_load((REPO / "helm" / "values.yaml").read_text())
    servers_broker = project_values["hub"]["config"]["BrokeredAWSMixin"]["broker_url_for_servers"]
    assert env_of(base(job_pod))["NOTEBOOK_SCHEDULER_BROKER_URL"] == servers_broker


def test_the_job_pod_has_no_kubernetes_token_and_the_notebook_runs_as_jovyan_apart_from_the_task(job_pod):
    spec = job_pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The task holds the scheduler's token; it runs as root with exactly what the switch to the notebook's user needs
    # (scheduler/run_as.py) and can gain nothing more; the notebook runs as jovyan with no capability.
    assert base(job_pod)["securityContext"] == {
        "runAsUser": 0,
        "runAsGroup": 0,
        "runAsNonRoot": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": sorted(SWITCH_CAPABILITIES)},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert env_of(base(job_pod))[RUN_AS_USER_ENV] == "jovyan"
    user_image = (REPO / "hub" / "images" / "user" / "Dockerfile").read_text()
    useradd = re.search(r"useradd --uid (\d+) --gid (\d+) .* (\S+)$", user_image, re.MULTILINE)
    assert useradd.groups() == ("1000", "100", "jovyan"), "the user image's notebook user, as in user pods"
    assert not any("hostPath" in volume for volume in spec["volumes"])


def test_only_the_metadata_blocker_is_privileged_and_it_runs_before_the_notebook(job_pod):
    [init] = job_pod["spec"]["initContainers"]
    assert init["name"] == "block-cloud-metadata"
    assert init["image"] == "quay.io/jupyterhub/k8s-network-tools:4.4.0"  # as for user pods (test_user_pod.py)
    assert init["command"] == [
        *("iptables", "--append", "OUTPUT", "--protocol", "tcp"),
        *("--destination", "169.254.169.254", "--destination-port", "80", "--jump", "DROP"),
    ]
    assert "env" not in init and "volumeMounts" not in init


def test_airflow_cfg_is_the_charts_configmap_read_only(job_pod):
    mounts = {m["name"]: m for m in base(job_pod)["volumeMounts"]}
    assert mounts["config"] == {
        "name": "config",
        "mountPath": "/opt/airflow/airflow.cfg",
        "subPath": "airflow.cfg",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in job_pod["spec"]["volumes"]}
    assert volumes["config"] == {"name": "config", "configMap": {"name": "airflow-config"}}
    assert {v["name"] for v in job_pod["spec"]["volumes"] if "emptyDir" in v} == {"logs", "home", "tmp"}


def test_an_expression_the_test_cannot_render_fails_it():
    with pytest.raises(AssertionError, match=r"uses \{\{ \.Values\.secret \}\}"):
        render("value: {{ .Values.secret }}")


# ---- the Airflow image (it cannot be built here) -------------------------------------------------------------------


def test_the_airflow_image_is_the_user_image_plus_airflow_in_a_virtualenv_run_as_the_user():
    steps = instructions(AIRFLOW_IMAGE_DIR / "Dockerfile")
    assert steps[:2] == [("ARG", "USER_IMAGE"), ("FROM", "${USER_IMAGE}")]
    assert [arguments for keyword, arguments in steps if keyword == "USER"][-1] == "1000"
    install = [arguments for keyword, arguments in steps if "pip install" in arguments]
    assert install == [
        "python3 -m venv /opt/airflow-venv && /opt/airflow-venv/bin/python -m pip install --no-cache-dir "
        "--require-hashes -r /tmp/requirements.txt && /opt/airflow-venv/bin/python -m pip check "
        "&& rm /tmp/requirements.txt"
    ]
    # papermill's python3 kernel is the user image's Python: notebooks import what they import in JupyterLab.
    [kernel] = [arguments for keyword, arguments in steps if "kernel.json" in arguments]
    assert '"argv": ["/usr/local/bin/python3", "-m", "ipykernel_launcher"' in kernel
    assert "/opt/airflow-venv/share/jupyter/kernels/python3/kernel.json" in kernel


def test_the_airflow_image_pins_everything_with_hashes_at_the_versions_that_matter(values):
    image = pins(AIRFLOW_IMAGE_DIR / "requirements.txt")
    assert image["apache-airflow"] == values["airflowVersion"]
    assert {"apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-fab", "authlib", "papermill"} <= set(
        image
    )
    assert "psycopg2-binary" in image or "psycopg2" in image
    hub = pins(REPO / "requirements" / "hub.txt")
    signing_in = ("msal", "pydantic", "pyjwt", "pyyaml", "cryptography")  # what authenticator/ runs on at the hub
    assert {name: image[name] for name in signing_in} == {name: hub[name] for name in signing_in}
    assert all(count >= 1 for count in hashed_pins(AIRFLOW_IMAGE_DIR / "requirements.txt").values())
    user_python = re.search(r"^FROM python:(3\.\d+)\.", (REPO / "hub/images/user/Dockerfile").read_text(), re.MULTILINE)
    header = (AIRFLOW_IMAGE_DIR / "requirements.txt").read_text().splitlines()[1]
    assert f"-p {user_python[1]}" in header, "compiled for the user image's Python"


# ---- the job pods' network policy ----------------------------------------------------------------------------------


def test_the_network_policy_is_a_valid_kubernetes_1_32_object(job_policy):
    kubernetes_validate.validate(job_policy, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(job_policy)
    broken["spec"]["egress"][0]["ports"][0]["port"] = [53]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_policy_selects_the_job_pods_and_no_other_airflow_pod(job_policy, job_pod):
    selector = job_policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= job_pod["metadata"]["labels"].items()
    for other in (SCHEDULER, DAG_PROCESSOR, API_SERVER):
        assert not selector.items() <= other.labels.items()
    assert job_policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize(
    ("destination", "port", "protocol", "expected"),
    [
        (HUB_POD, 8181, "TCP", True),  # the credential broker: start, finish, the run's credentials
        (API_SERVER, 8080, "TCP", True),  # Airflow's Execution API
        (COREDNS, 53, "UDP", True),
        (COREDNS, 53, "TCP", True),
        (S3, 443, "TCP", True),
        (S3, 80, "TCP", False),  # HTTPS only
        (INSTANCE_METADATA, 80, "TCP", False),
        (INSTANCE_METADATA, 443, "TCP", False),
        (INSTANCE_METADATA, 53, "UDP", False),
        (POD_IDENTITY_AGENT, 80, "TCP", False),
        (HUB_POD, 8081, "TCP", False),  # the hub's API: the broker speaks to it, job pods do not
        (USER_POD, 8888, "TCP", False),  # people's servers
        (SCHEDULER, 8793, "TCP", False),
        (API_SERVER, 5432, "TCP", False),
        (CUSTOM_NETWORKING_POD, 443, "TCP", False),
        (Endpoint("10.0.99.1"), 443, "TCP", False),  # anything else in the VPC (the database, say)
        (Endpoint("10.0.0.2"), 53, "UDP", False),  # DNS comes from CoreDNS only
    ],
)
def test_what_job_pods_may_reach(job_policy, destination, port, protocol, expected):
    assert allowed(job_policy["spec"]["egress"], "egress", destination, port, protocol) is expected


@pytest.mark.parametrize("source", [API_SERVER, SCHEDULER, HUB_POD, USER_POD, S3])
def test_nothing_may_connect_to_a_job_pod(job_policy, source):
    assert allowed(job_policy["spec"]["ingress"], "ingress", source, 8793, receiver=JOB_POD) is False


@pytest.mark.parametrize(
    ("source", "port", "expected"),
    [
        (JOB_POD, 8181, True),
        (DAG_PROCESSOR, 8181, True),  # it lists the jobs
        (SCHEDULER, 8181, False),
        (API_SERVER, 8181, False),
        (JOB_POD, 8081, False),  # not the hub's API
    ],
)
def test_the_hub_admits_job_pods_and_the_dag_processor_to_the_broker(merged_values, source, port, expected):
    ingress = hub_network_policy(merged_values)["spec"]["ingress"]
    assert allowed(ingress, "ingress", source, port, receiver=HUB_POD) is expected


# ---- checkov, on the job pod, its network policy and the Airflow image -----------------------------------------------

INIT = "the block-cloud-metadata init container only (iptables before the notebook, as in user pods)"
JOB_POD_SKIPS = {
    "CKV_K8S_16": f"privileged: {INIT}; the base container is not",
    "CKV_K8S_20": f"allowPrivilegeEscalation not false: {INIT}; the base container sets it false",
    "CKV_K8S_22": f"writable root file system: {INIT} (iptables takes a lock under /run); the base container's is "
    "read-only",
    "CKV_K8S_23": "root containers: the init container (iptables), and the task's (base): it holds the scheduler's "
    "token, so the notebook must run as another uid, and only root may switch to one. It keeps CHOWN, DAC_OVERRIDE, "
    "SETGID, SETUID, no privilege escalation; the notebook runs as jovyan (1000) with no capability "
    "(scheduler/run_as.py)",
    "CKV_K8S_25": f"adds capabilities: NET_ADMIN to {INIT}; CHOWN, DAC_OVERRIDE, SETGID, SETUID to the task's "
    "container, after dropping ALL: what starting the notebook as jovyan takes (scheduler/run_as.py)",
    "CKV_K8S_28": f"NET_RAW not dropped: {INIT}; the base container drops ALL",
    "CKV_K8S_37": f"capabilities not dropped: {INIT}; the base container drops ALL",
    "CKV_K8S_40": "uid 1000 (jovyan, the user image's owner of home, as in user pods): with no host mounts, no "
    "capabilities and no privilege escalation, sharing a uid with the host gives nothing",
    "CKV_K8S_43": "images by tag, not digest: the Airflow image's tag is a per-build git commit; the init container's "
    "is the jupyterhub chart's pinned network-tools tag",
    "CKV_K8S_15": "pull policy IfNotPresent: images are tagged per build, so a tag never changes its content",
    "CKV_K8S_35": "the scheduler's token arrives as an environment variable from the Secret (secretKeyRef) because "
    "that is how scheduler/ reads it; what matters, no value in the pod spec, holds",
    "CKV_K8S_8": "no liveness probe: a job pod runs one task to its end; Airflow's heartbeats watch it",
    "CKV_K8S_9": "no readiness probe: nothing connects to a job pod",
}


@pytest.fixture
def scanned(job_pod, job_policy, tmp_path):
    """The job pod and its network policy as the cluster gets them (in the hub's namespace), as YAML files."""
    pod = copy.deepcopy(job_pod)
    pod["metadata"]["namespace"] = "jupyterhub"
    pod["metadata"]["annotations"] = skip_annotations(JOB_POD_SKIPS)
    policy = copy.deepcopy(job_policy)
    policy["metadata"]["namespace"] = "jupyterhub"
    files = {"job-pod.yaml": pod, "job-network-policy.yaml": policy}
    for name, document in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(document))
    return [tmp_path / name for name in files]


def test_checkov_passes_on_the_job_pod_its_network_policy_and_the_airflow_image(scanned):
    reports = run_checkov([*scanned, REPO / "hub" / "images" / "airflow" / "Dockerfile"])
    assert {report.get("check_type") for report in reports} >= {"kubernetes", "dockerfile"}
    assert sum(report.get("summary", {}).get("passed", 0) for report in reports) > 50, "checkov ran its checks"
    assert failures(reports) == []
    skipped = {check["check_id"] for report in reports for check in report["results"].get("skipped_checks", [])}
    assert skipped == {*JOB_POD_SKIPS, "CKV_DOCKER_2", "CKV_DOCKER_7"}, "a skip that no longer applies goes"


# ---- the chart values ----------------------------------------------------------------------------------------------


def test_kubernetes_executor_and_the_fab_auth_manager(values):
    assert values["executor"] == "KubernetesExecutor"
    assert values["airflowVersion"].startswith("3.")
    assert values["config"]["core"]["auth_manager"] == (
        "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    )
    assert values["config"]["core"]["dags_folder"] == "/opt/airflow/project/scheduler/dags"


def test_no_airflow_service_account_carries_an_aws_role(values):
    accounts = {path: node for path, node in walk(values) if path and path[-1] == "serviceAccount"}
    assert accounts, "the values name the service accounts they configure"
    assert {path: node.get("annotations") for path, node in accounts.items() if node.get("annotations")} == {}
    assert "eks.amazonaws.com" not in AIRFLOW_VALUES.read_text()


def test_no_aws_variable_and_no_secret_value_anywhere_in_the_values(values):
    text = AIRFLOW_VALUES.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}|aws_secret_access_key|password[ \t]*[:=][ \t]*\S", text, re.IGNORECASE)
    env_names = [node["name"] for path, node in walk(values) if path[-2:-1] == ("env",) and "name" in node]
    assert [name for name in env_names if name.startswith("AWS_") or is_secret_env_name(name)] == []
    # The chart's `secret` and `extraEnv` would put a Secret into every Airflow container: not used.
    assert "secret" not in values and "extraEnv" not in values and "extraEnvFrom" not in values


def test_the_metadata_database_is_external_postgresql_from_a_secret(values):
    assert values["postgresql"] == {"enabled": False}
    assert values["data"] == {"metadataSecretName": "airflow-metadata"}
    assert values["redis"] == {"enabled": False}
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert values[key].startswith("airflow-")
    for key in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
        assert key not in values


def test_nobody_has_a_password_account(values):
    assert values["webserver"]["defaultUser"] == {"enabled": False}
    assert values["createUserJob"]["enabled"] is False


def test_the_dag_processor_gets_the_token_from_a_mounted_secret_not_from_its_pod_spec(values):
    processor = values["dagProcessor"]
    assert [e["name"] for e in processor["env"]] == ["NOTEBOOK_SCHEDULER_BROKER_URL"]
    assert processor["env"][0]["value"] == BROKER_URL
    assert processor["extraVolumes"] == [
        {"name": "notebook-scheduler", "secret": {"secretName": "notebook-scheduler", "defaultMode": 0o400}}
    ]
    [mount] = processor["extraVolumeMounts"]
    assert mount == {"name": "notebook-scheduler", "mountPath": "/var/run/secrets/notebook-scheduler", "readOnly": True}
    assert '"$(cat /var/run/secrets/notebook-scheduler/token)"' in processor["args"][-1]
    assert processor["args"][-1].rstrip().endswith("exec airflow dag-processor")


def test_the_api_server_mounts_what_the_ui_sign_in_reads(values):
    api = values["apiServer"]
    volumes = {v["name"]: v for v in api["extraVolumes"]}
    mounts = {m["name"]: m["mountPath"] for m in api["extraVolumeMounts"]}
    assert volumes["entra-oauth"]["secret"]["secretName"] == "entra-oauth"  # the hub's client secret (README step 4)
    assert f"{mounts['entra-oauth']}/client-secret" == CLIENT_SECRET_FILE
    assert volumes["access-policy"]["configMap"]["name"] == "airflow-access-policy"
    assert f"{mounts['access-policy']}/access-policy.yaml" == ACCESS_POLICY_FILE
    assert "apiServerConfig" not in api, "the webserver_config comes from helm/airflow_webserver_config.py (--set-file)"


def test_the_webserver_config_survives_the_charts_tpl():
    text = (REPO / "helm" / "airflow_webserver_config.py").read_text()
    assert "{{" not in text and "}}" not in text
