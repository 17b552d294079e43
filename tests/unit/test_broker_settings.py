"""The broker's settings as an admin writes them (``c.CredentialBroker.…``), what the hub config makes of them, and
what reaches the broker process."""

import json
import sys
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub
from traitlets import TraitError
from traitlets.config import Config

from authenticator.policy_file import AccessPolicyFile
from hub.broker.settings import CredentialBroker, load_process_config, process_config, process_environment

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "hub" / "config"


def config(**sections) -> Config:
    return Config({name: dict(values) for name, values in sections.items()})


def test_defaults():
    broker = CredentialBroker()
    assert (broker.ip, broker.port, broker.url, broker.sts_endpoint_url) == (
        "127.0.0.1",
        8181,
        "http://127.0.0.1:8181",
        "",
    )
    assert (
        broker.cache_margin_seconds,
        broker.token_cache_seconds,
        broker.sts_retry_seconds,
        broker.hub_timeout_seconds,
        broker.chained_sessions,
    ) == (900, 30, 10, 10, "auto")


def test_the_url_follows_ip_and_port_unless_set():
    assert CredentialBroker(config=config(CredentialBroker={"port": 9000})).url == "http://127.0.0.1:9000"
    everywhere = "0.0.0.0"  # noqa: S104 - as in the hub's pod
    kubernetes = CredentialBroker(config=config(CredentialBroker={"ip": everywhere, "url": "http://hub:8181/"}))
    assert (kubernetes.ip, kubernetes.port, kubernetes.url) == (everywhere, 8181, "http://hub:8181")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("ip", " ", "CredentialBroker.ip is empty: set the address to listen on (127.0.0.1 or 0.0.0.0)"),
        ("port", 0, "CredentialBroker.port must be a port number, 1 to 65535 (got 0)"),
        ("port", 70000, "CredentialBroker.port must be a port number, 1 to 65535 (got 70000)"),
        ("url", "", "CredentialBroker.url is empty: leave it unset for http://{ip}:{port}, or set the URL"),
        ("url", "hub:8181", "CredentialBroker.url must be an http:// or https:// URL with a host (got 'hub:8181')"),
        (
            "sts_endpoint_url",
            "sts.amazonaws.com",
            "CredentialBroker.sts_endpoint_url must be an http:// or https:// URL with a host "
            "(got 'sts.amazonaws.com')",
        ),
        (
            "cache_margin_seconds",
            -1.0,
            "CredentialBroker.cache_margin_seconds must be at least 0 (got -1.0): set the seconds before expiry, "
            "e.g. 900",
        ),
        (
            "token_cache_seconds",
            -5.0,
            "CredentialBroker.token_cache_seconds must be at least 0 (got -5.0): set 0 to ask the hub on every request",
        ),
        (
            "sts_retry_seconds",
            -1.0,
            "CredentialBroker.sts_retry_seconds must be at least 0 (got -1.0): set 0 for a single attempt",
        ),
        (
            "hub_timeout_seconds",
            0.0,
            "CredentialBroker.hub_timeout_seconds must be at least 0.1 (got 0.0): set a few seconds, e.g. 10",
        ),
        ("chained_sessions", "maybe", "CredentialBroker.chained_sessions must be auto, true or false (got 'maybe')"),
        (
            "laptop_token_max_days",
            0,
            "CredentialBroker.laptop_token_max_days must be at least 1 (got 0): set the days a laptop token may live",
        ),
        (
            "laptop_token_default_days",
            0,
            "CredentialBroker.laptop_token_default_days must be at least 1 (got 0): set the days proposed, e.g. 7",
        ),
        (
            "laptop_profile_prefix",
            "my hub",
            "CredentialBroker.laptop_profile_prefix must be 1-32 letters, digits, '-' or '_' (got 'my hub')",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_setting(setting, value, message):
    with pytest.raises(TraitError) as raised:
        CredentialBroker(config=config(CredentialBroker={setting: value}))
    assert str(raised.value) == message


def test_chained_sessions_is_read_in_any_case():
    assert CredentialBroker(config=config(CredentialBroker={"chained_sessions": " TRUE"})).chained_sessions == "true"


def test_the_broker_process_gets_its_config_sections_and_builds_the_same_objects():
    hub_config = config(
        CredentialBroker={"port": 9000, "token_cache_seconds": 1.0},
        AccessPolicyFile={"path": "/etc/policy.yaml"},
        EntraIDOAuthenticator={"client_secret": "never-for-the-broker"},
    )
    text = process_config(hub_config)
    assert json.loads(text) == {
        "AccessPolicyFile": {"path": "/etc/policy.yaml"},
        "CredentialBroker": {"port": 9000, "token_cache_seconds": 1.0},
    }
    loaded = load_process_config(text)
    assert CredentialBroker(config=loaded).url == "http://127.0.0.1:9000"
    assert AccessPolicyFile(config=loaded).path == "/etc/policy.yaml"


def test_a_broken_process_config_is_refused():
    with pytest.raises(TraitError, match=r"^CREDENTIAL_BROKER_CONFIG is not JSON \(.*\): start the broker from the"):
        load_process_config("{not json")


def test_the_broker_process_environment_holds_its_aws_identity_and_nothing_else_of_the_hubs():
    hub_environment = {
        "PATH": "/usr/bin",
        "HOME": "/home/jovyan",
        "LANG": "C.UTF-8",
        "PYTHONPATH": "/srv",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/hub-broker",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_REGION": "eu-west-1",
        "OAUTH_CLIENT_SECRET": "the-hubs-secret",
        "JUPYTERHUB_CRYPT_KEY": "the-hubs-key",
        "CONFIGPROXY_AUTH_TOKEN": "the-proxys-token",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    }
    assert process_environment(hub_environment, config(AccessPolicyFile={"path": "/p.yaml"})) == {
        "PATH": "/usr/bin",
        "HOME": "/home/jovyan",
        "LANG": "C.UTF-8",
        "PYTHONPATH": "/srv",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/hub-broker",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_REGION": "eu-west-1",
        "CREDENTIAL_BROKER_CONFIG": '{"AccessPolicyFile": {"path": "/p.yaml"}}',
    }


def hub_loading(tmp_path: Path, settings: str) -> JupyterHub:
    """A JupyterHub loading ``settings`` and then the broker's hub config file with the same ``c``, as the chart runs
    the files of jupyterhub_config.d after the Helm values' hub.config."""
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(
        "from hub.local_stack.single_machine import load_hub_config_files\n"
        f"c = get_config()\n{settings}\n"
        f"load_hub_config_files(c, {str(CONFIG_DIR)!r}, only={{'20-credential-broker.py'}})\n"
    )
    hub = JupyterHub()
    hub.load_config_file(str(path))
    return hub


def test_the_hub_config_builds_the_service_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "the-hubs-secret")
    monkeypatch.chdir(tmp_path)  # the hub's working directory, where its default sqlite database is
    hub = hub_loading(
        tmp_path,
        "c.CredentialBroker.ip = '0.0.0.0'\nc.CredentialBroker.url = 'http://hub:8181'\n"
        "c.AccessPolicyFile.path = '/etc/policy.yaml'",
    )
    service, _scheduler = hub.config.JupyterHub.services.get_value([])
    environment = service.pop("environment")
    assert service == {
        "name": "aws-credentials",
        "url": "http://hub:8181",
        "command": [sys.executable, "-m", "hub.broker"],
        "display": False,
        "oauth_no_confirm": True,
    }
    assert environment["AWS_REGION"] == "eu-west-1" and "OAUTH_CLIENT_SECRET" not in environment
    assert json.loads(environment["CREDENTIAL_BROKER_CONFIG"]) == {
        "AccessPolicyFile": {"path": "/etc/policy.yaml"},
        "CredentialBroker": {"ip": "0.0.0.0", "url": "http://hub:8181"},  # noqa: S104 - as in the hub's pod
        # scheduled runs: the job store beside the hub's database; runs reach the broker as servers do
        "NotebookJobs": {
            "db_path": str(tmp_path / "notebook-jobs.sqlite"),
            "broker_url": "http://127.0.0.1:8181/services/aws-credentials/",
            "aws_endpoint_url": "",
        },
    }


def test_a_bad_setting_stops_the_hub_at_start_up_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        hub_loading(tmp_path, "c.CredentialBroker.port = 0")
    assert raised.value.code == 1
    err = capsys.readouterr().err
    assert (
        "Bad config encountered during initialization: CredentialBroker.port must be a port number, 1 to 65535 "
        "(got 0)" in err
    )
    assert "Traceback" not in err
