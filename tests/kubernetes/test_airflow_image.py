"""The Airflow side with the Airflow image's own packages (hub/images/airflow/requirements.txt, installed here into
.venv-airflow-image as checkov is into .venv-checkov): the real KubernetesExecutor builds a job pod from the values'
pod template, and the real FAB security manager of helm/airflow_webserver_config.py signs people in, with id_tokens
signed for the run and verified by the project's verifier, and groups read page by page by the project's Graph client
from answers in Graph's documented shape (tests/kubernetes/airflow_image_probe.py). The image itself cannot be built
here (no Docker engine): this is its Python environment, not its file system."""

import hashlib
import json
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from authenticator.airflow_ui import NOT_A_HUB_ADMIN, sign_in_failed
from tests.fixtures.tools import missing_tool
from tests.kubernetes.chart import REPO
from tests.kubernetes.test_airflow import AIRFLOW_VALUES, JOB_NETWORK_POLICY, KUBERNETES_VERSION, render

pytestmark = pytest.mark.kubernetes

VENV = REPO / ".venv-airflow-image"
LOCK = REPO / "hub" / "images" / "airflow" / "requirements.txt"
PROBE = REPO / "tests" / "kubernetes" / "airflow_image_probe.py"
DEMO_POLICY = REPO / "hub" / "demo" / "access-policy.yaml"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-airflow:3f2a9c1"
# What the executor puts in the workload: the task's Execution API token among it (a marker here).
WORKLOAD = json.dumps({"token": "workload-token-7f3a", "ti": {"id": "0195d9c4-7c1e-7a3b-9f2e-4d5c6b7a8e9f"}})


@pytest.fixture(scope="module")
def airflow_python():
    """The image's packages in a virtualenv of their own, made (or remade when the lock changed) by uv."""
    uv = REPO / ".venv" / "bin" / "uv"
    if not uv.exists():
        missing_tool("uv in the project's virtualenv", "run `make venv`")
    python = VENV / "bin" / "python"
    marker = VENV / ".bootstrapped"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if not marker.exists() or marker.read_text() != digest:
        steps = [
            [str(uv), "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(VENV)],
            [str(uv), "pip", "install", "--quiet", "--python", str(python), "--require-hashes", "-r", str(LOCK)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, f"{' '.join(step[:3])} failed:\n{done.stderr[-3000:]}"
        marker.write_text(digest)
    return python


def probe(python, tmp_path, *args) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [str(python), str(PROBE), *map(str, args)], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # Airflow logs to stdout before it


@pytest.fixture(scope="module")
def executor_pod(airflow_python, tmp_path_factory):
    work = tmp_path_factory.mktemp("executor")
    template = work / "pod_template_file.yaml"
    template.write_text(render(yaml.safe_load(AIRFLOW_VALUES.read_text())["podTemplate"]))
    return probe(airflow_python, work, "executor-pod", template, IMAGE, WORKLOAD)


@pytest.fixture(scope="module")
def sign_ins(airflow_python, tmp_path_factory):
    work = tmp_path_factory.mktemp("sign-in")
    return probe(airflow_python, work, "sign-in", DEMO_POLICY, work)


def base(pod) -> dict:
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return container


def test_the_executors_pod_is_a_valid_kubernetes_1_32_pod(executor_pod):
    kubernetes_validate.validate(executor_pod, KUBERNETES_VERSION, strict=True)


def test_the_executor_keeps_what_the_template_promises(executor_pod):
    spec = executor_pod["spec"]
    assert base(executor_pod)["image"] == IMAGE
    assert spec["automountServiceAccountToken"] is False and "serviceAccountName" not in spec
    assert [c["name"] for c in spec["initContainers"]] == ["block-cloud-metadata"]
    assert base(executor_pod)["securityContext"]["readOnlyRootFilesystem"] is True
    # The task may switch to the notebook's user and nothing more (helm/README.md, G).
    assert base(executor_pod)["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"],
    }
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in base(executor_pod)["env"]}
    assert env == {
        "NOTEBOOK_SCHEDULER_TOKEN": {"secretKeyRef": {"name": "notebook-scheduler", "key": "token"}},
        "NOTEBOOK_SCHEDULER_BROKER_URL": "http://hub:8181/services/aws-credentials/",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NOTEBOOK_RUN_AS_USER": "jovyan",
        "AIRFLOW_IS_K8S_EXECUTOR_POD": "True",  # the executor's own
    }


def test_the_network_policies_still_select_the_executors_pod(executor_pod):
    labels = executor_pod["metadata"]["labels"]
    job_selector = yaml.safe_load(JOB_NETWORK_POLICY.read_text())["spec"]["podSelector"]["matchLabels"]
    assert job_selector.items() <= labels.items()
    hub_values = yaml.safe_load((REPO / "helm" / "values.yaml").read_text())
    hub_peers = hub_values["hub"]["networkPolicy"]["ingress"][0]["from"]
    assert any(peer["podSelector"]["matchLabels"].items() <= labels.items() for peer in hub_peers)


def test_the_only_token_in_the_pod_spec_is_airflows_own_in_the_task_arguments(executor_pod):
    """The executor passes each task its Execution API token in the arguments (helm/README.md, G): nowhere else."""
    assert base(executor_pod)["args"][-1] == WORKLOAD
    elsewhere = json.loads(json.dumps(executor_pod))
    base(elsewhere).pop("args")
    assert "workload-token-7f3a" not in json.dumps(elsewhere)


def test_the_ui_sign_in_is_fabs_security_manager_with_entra_id(sign_ins):
    assert sign_ins["security manager is FAB's"] is True
    assert sign_ins["settings"] == {
        "AUTH_TYPE": 4,  # flask_appbuilder.const.AUTH_OAUTH
        "AUTH_ROLES_MAPPING": {"hub_admin": ["Admin"]},
        "AUTH_ROLES_SYNC_AT_LOGIN": True,
        "AUTH_USER_REGISTRATION": True,
        "providers": ["entra-id"],
    }
    assert sign_ins["client secret shown"] is False


def test_a_hub_admin_signs_in_with_groups_from_every_graph_page(sign_ins):
    outcome = sign_ins["scenarios"]["hub admin"]
    assert outcome["userinfo"] == {
        "username": "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f",
        "email": "0f6c@contoso.example",
        "first_name": "A Person",
        "last_name": "",
        "role_keys": ["hub_admin"],
    }
    assert outcome["graph pages asked"] == 2  # the hub_admin group was on the second page
    assert (outcome["outcome"], outcome["flashed"]) == ("signed in", [])


def test_anyone_else_is_refused_and_keeps_no_role(sign_ins):
    outcome = sign_ins["scenarios"]["not a hub admin"]
    assert outcome["userinfo"]["role_keys"] == []
    assert outcome["outcome"] is None
    assert outcome["flashed"] == [NOT_A_HUB_ADMIN]
    assert (outcome["stored roles"], outcome["roles emptied"]) == ([], True)


@pytest.mark.parametrize(
    ("scenario", "reason", "graph_pages"),
    [
        ("expired", "the id_token has expired", 0),
        ("another tenant", "the id_token was issued for another tenant (tid)", 0),
        ("another application", "the id_token was issued for another application (aud)", 0),
        ("no id_token tied to the sign-in", "Entra ID's answer carried no id_token tied to this sign-in", 0),
        (
            "graph throttled",
            "your groups could not be read from Microsoft Graph (Microsoft Graph is throttling this application (429) "
            "beyond 10 s of retries)",
            1,
        ),
    ],
)
def test_a_sign_in_that_cannot_be_checked_is_refused_with_its_reason(sign_ins, scenario, reason, graph_pages):
    outcome = sign_ins["scenarios"][scenario]
    assert outcome["userinfo"] == {} and outcome["outcome"] is None
    assert outcome["flashed"] == [sign_in_failed(reason)]
    assert outcome["graph pages asked"] == graph_pages
    # nothing was decided, so nothing changed
    assert outcome["stored roles"] == ["Admin"] and outcome["roles emptied"] is False
