"""helm/values.yaml with the generated values, merged onto the chart's defaults and validated as `helm install`
validates them; and what the values promise: secrets by reference only, files where the chart loads them."""

import re

import jsonschema
import pytest
import yaml

from hub.broker.contract import DEFAULT_PORT, SCHEDULER_TOKEN_ENV, SERVICE_PREFIX
from hub.jobs.airflow_api import PASSWORD_VARIABLE
from hub.kubernetes_secrets import is_secret_env_name
from tests.kubernetes.chart import REPO, VALUES_FILE, helm_merge
from tests.kubernetes.conftest import BROKER_ROLE_ARN, CLUSTER_SECRETS

pytestmark = pytest.mark.kubernetes

CONFIG_D = "/usr/local/etc/jupyterhub/jupyterhub_config.d"


def schema_errors(values, schema) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(values)]


def test_the_merged_values_pass_the_charts_schema(merged_values, chart_schema):
    assert schema_errors(merged_values, chart_schema) == []


def test_the_check_is_not_vacuous(merged_values, chart_schema):
    broken = helm_merge(merged_values, {"singleuser": {"cloudMetadata": {"blockWithIptables": "yes"}}})
    assert schema_errors(broken, chart_schema) == [
        "singleuser.cloudMetadata.blockWithIptables: 'yes' is not of type 'boolean'"
    ]


def test_values_yaml_alone_passes_the_schema_too(chart_defaults, project_values, chart_schema):
    """So that a missing generated file shows as a hub that refuses to start, naming what is missing."""
    assert schema_errors(helm_merge(chart_defaults, project_values), chart_schema) == []


def test_every_block_of_values_yaml_is_commented():
    """Each block opened at the first two levels has a comment just above it, or is its parent's first key."""
    lines = VALUES_FILE.read_text().splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        match = re.match(r"^( {0,2})[A-Za-z][\w.-]*:\s*$", line)  # a key that opens a block
        if not match:
            continue
        above = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "#")
        is_parent = re.match(r"^( *)[A-Za-z][\w.-]*:\s*$", above) and len(above) - len(above.lstrip()) < len(match[1])
        if not above.lstrip().startswith("#") and not is_parent:
            uncommented.append(f"line {number + 1}: {line.strip()}")
    assert uncommented == []


def test_secrets_reach_the_hub_by_reference_only(merged_values):
    literal = {
        name: spec
        for name, spec in merged_values["hub"]["extraEnv"].items()
        if is_secret_env_name(name)
        and "secretKeyRef" not in (spec if isinstance(spec, dict) else {}).get("valueFrom", {})
    }
    assert literal == {}
    assert merged_values["hub"]["extraEnv"]["OAUTH_CLIENT_SECRET"] == {
        "valueFrom": {"secretKeyRef": {"name": "entra-oauth", "key": "client-secret"}}
    }


def test_no_secret_value_is_in_either_values_file(generator, generated_values):
    text = VALUES_FILE.read_text() + generator.to_yaml(generated_values)
    secret_values = [v for secret in CLUSTER_SECRETS.values() for v in secret.values()]
    assert [v for v in secret_values if v in text] == []
    assert not re.search(r"AKIA[0-9A-Z]{16}|aws_secret_access_key|client_secret[ \t]*[:=][ \t]*\S", text, re.IGNORECASE)


def test_the_hub_service_account_carries_the_brokers_role(merged_values):
    assert merged_values["hub"]["serviceAccount"] == {
        "create": True,
        "name": None,
        "annotations": {"eks.amazonaws.com/role-arn": BROKER_ROLE_ARN},
    }


def test_the_access_policy_is_mounted_where_the_hub_looks(merged_values):
    mounted = merged_values["hub"]["extraFiles"]["access-policy"]
    assert mounted["mountPath"] == merged_values["hub"]["config"]["AccessPolicyFile"]["path"]
    assert mounted["stringData"] == (REPO / "hub" / "demo" / "access-policy.yaml").read_text()


def test_the_hub_config_files_are_mounted_in_load_order(merged_values):
    mounted = {
        spec["mountPath"].removeprefix(CONFIG_D + "/"): spec["stringData"]
        for spec in merged_values["hub"]["extraFiles"].values()
        if spec["mountPath"].startswith(CONFIG_D)
    }
    project = sorted(p.name for p in (REPO / "hub" / "config").glob("*.py"))
    assert sorted(mounted) == project
    assert {"10-authenticator.py", "20-credential-broker.py", "40-kubernetes.py"} <= set(project)
    for name in project:
        assert mounted[name] == (REPO / "hub" / "config" / name).read_text()


def test_the_broker_port_and_prefix_are_the_contracts_everywhere(merged_values):
    """The values must repeat the broker's port and prefix (YAML cannot import them): they match hub/broker/contract."""
    hub = merged_values["hub"]
    port = DEFAULT_PORT
    assert hub["config"]["CredentialBroker"] == {"ip": "0.0.0.0", "port": port, "url": f"http://hub:{port}"}  # noqa: S104
    assert hub["config"]["BrokeredAWSMixin"]["broker_url_for_servers"] == f"http://hub:{port}{SERVICE_PREFIX}"
    assert "broker_url" not in hub["config"]["BrokeredAWSMixin"], "the hub calls the broker in its own pod (default)"
    assert hub["service"]["extraPorts"] == [{"name": "aws-broker", "port": port, "targetPort": port}]
    assert hub["networkPolicy"]["ingress"][0]["ports"] == [{"port": port, "protocol": "TCP"}]
    assert merged_values["singleuser"]["networkPolicy"]["egress"][1]["ports"] == [{"port": port, "protocol": "TCP"}]
    assert merged_values["proxy"]["chp"]["networkPolicy"]["egress"][0]["ports"] == [{"port": port, "protocol": "TCP"}]


def test_every_variable_reference_in_the_hub_env_is_to_an_earlier_variable(merged_values):
    """The chart writes hub.extraEnv in name order, and Kubernetes expands $(NAME) only from earlier variables."""
    env = merged_values["hub"]["extraEnv"]
    late = [
        (name, ref)
        for name, spec in env.items()
        if isinstance(spec, str)
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", spec)
        if ref not in env or ref >= name
    ]
    assert late == []


def test_the_hub_environment_holds_secrets_and_aws_sdk_settings_only(merged_values):
    """Settings are traits in hub.config (docs/configuration.md); the environment is for secrets and the AWS SDK."""
    env = merged_values["hub"]["extraEnv"]  # helm/values.yaml and the generated values (Terraform's AWS_*)
    assert {name for name in env if not name.startswith("AWS_")} == {
        "JUPYTERHUB_CRYPT_KEY",
        "OAUTH_CLIENT_SECRET",
        "NOTEBOOK_SCHEDULER_TOKEN",
        "AIRFLOW_API_PASSWORD",
    }


def test_the_hub_gets_the_scheduler_token_airflow_holds_and_its_own_airflow_password_by_reference(merged_values):
    """The Secret the Airflow values give job pods and the DAG processor is the one the hub registers the service
    with; both optional, so that a hub without scheduled runs starts."""
    env = merged_values["hub"]["extraEnv"]
    assert env[SCHEDULER_TOKEN_ENV] == {
        "valueFrom": {"secretKeyRef": {"name": "notebook-scheduler", "key": "token", "optional": True}}
    }
    assert env[PASSWORD_VARIABLE] == {
        "valueFrom": {"secretKeyRef": {"name": "airflow-hub-account", "key": "password", "optional": True}}
    }
    airflow_values = yaml.safe_dump(yaml.safe_load((VALUES_FILE.parent / "airflow-values.yaml").read_text()))
    assert "name: notebook-scheduler" in airflow_values and "secretName: notebook-scheduler" in airflow_values
    # The chart names the API server's Service <release>-api-server, port 8080 (the release is `airflow`).
    assert merged_values["hub"]["config"]["AirflowApi"]["url"] == "http://airflow-api-server:8080"


def test_user_pods_cannot_reach_the_metadata_service_even_without_network_policy(merged_values):
    assert merged_values["singleuser"]["cloudMetadata"] == {"blockWithIptables": True, "ip": "169.254.169.254"}
