"""Scheduled runs' settings and hub config: the job store's place, the limits, the scheduler service and the roles."""

import json
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub
from traitlets import TraitError

from hub.jobs.settings import NotebookJobs
from hub.state_files import beside_hub_database

pytestmark = pytest.mark.unit

CONFIG_DIR = Path(__file__).resolve().parents[2] / "hub" / "config"


@pytest.mark.parametrize(
    ("db_url", "cwd", "path"),
    [
        ("sqlite:///jupyterhub.sqlite", "/srv/jupyterhub", "/srv/jupyterhub/notebook-jobs.sqlite"),
        ("sqlite:////data/hub/jupyterhub.sqlite", "/srv/jupyterhub", "/data/hub/notebook-jobs.sqlite"),
        ("sqlite:///state/jupyterhub.sqlite", "/work", "/work/state/notebook-jobs.sqlite"),
    ],
)
def test_the_job_store_sits_beside_the_hubs_sqlite_database(db_url, cwd, path):
    assert beside_hub_database(db_url, "notebook-jobs.sqlite", "NotebookJobs.db_path", cwd) == path


@pytest.mark.parametrize("db_url", ["postgresql://hub@db/jupyterhub", "sqlite://", "sqlite:///:memory:"])
def test_another_hub_database_needs_the_setting(db_url):
    with pytest.raises(TraitError) as caught:
        beside_hub_database(db_url, "notebook-jobs.sqlite", "NotebookJobs.db_path", "/srv")
    assert str(caught.value).startswith("NotebookJobs.db_path is not set and the hub's database (")
    assert str(caught.value).endswith(
        "is not a SQLite file to put it beside: set NotebookJobs.db_path to a file on storage the hub keeps "
        "(its volume)"
    )


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        (
            "max_start_delay_seconds",
            30,
            "NotebookJobs.max_start_delay_seconds must be at least 60 (got 30): the scheduler starts a run some "
            "seconds after its tick",
        ),
        (
            "max_run_seconds",
            60,
            "NotebookJobs.max_run_seconds must be at least 300 (got 60): a run's token must outlive its start",
        ),
    ],
)
def test_bad_limits_are_refused_naming_the_setting(trait, value, message):
    with pytest.raises(TraitError) as caught:
        NotebookJobs(**{trait: value})
    assert str(caught.value) == message


def hub_loading(tmp_path: Path, monkeypatch, settings: str = "") -> JupyterHub:
    """A JupyterHub loading the broker's hub config file after ``settings``, as the chart does."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(
        "from hub.local_stack.single_machine import load_hub_config_files\n"
        f"c = get_config()\nc.AccessPolicyFile.path = '/etc/policy.yaml'\n{settings}\n"
        f"load_hub_config_files(c, {str(CONFIG_DIR)!r}, only={{'20-credential-broker.py'}})\n"
    )
    hub = JupyterHub()
    hub.load_config_file(str(path))
    return hub


def test_the_scheduler_is_a_service_that_may_only_run_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTEBOOK_SCHEDULER_TOKEN", "s" * 64)
    hub = hub_loading(tmp_path, monkeypatch)
    broker, scheduler = hub.config.JupyterHub.services.get_value([])
    assert scheduler == {"name": "notebook-scheduler", "display": False, "api_token": "s" * 64}
    assert "s" * 64 not in json.dumps(broker)  # the broker's environment does not carry it
    roles = {role["name"]: role for role in hub.config.JupyterHub.load_roles.get_value([])}
    assert roles["notebook-scheduler"]["scopes"] == ["custom:aws-credentials:run-jobs"]
    assert roles["notebook-scheduler"]["services"] == ["notebook-scheduler"]
    # The broker makes and deletes run tokens; it needs `tokens`, not the job scope (the token's owner holds it);
    # `servers` is for revoking a person (hub/revocation).
    assert roles["aws-credential-broker"]["scopes"] == [
        "read:users",
        "read:servers",
        "admin:auth_state",
        "servers",
        "tokens",
    ]
    assert "custom:aws-credentials:job!user" in roles["user"]["scopes"]
    assert "custom:aws-credentials:run-jobs" not in json.dumps(roles["user"]) + json.dumps(roles["server"])
    scopes = hub.config.JupyterHub.custom_scopes.get_value({})
    assert set(scopes) == {
        "custom:aws-credentials:issue",
        "custom:aws-credentials:laptop",
        "custom:aws-credentials:job",
        "custom:aws-credentials:run-jobs",
    }


def test_without_its_token_the_scheduler_service_has_none(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTEBOOK_SCHEDULER_TOKEN", raising=False)
    hub = hub_loading(tmp_path, monkeypatch)
    _broker, scheduler = hub.config.JupyterHub.services.get_value([])
    assert scheduler == {"name": "notebook-scheduler", "display": False}


def test_the_broker_gets_the_job_settings(tmp_path, monkeypatch):
    hub = hub_loading(
        tmp_path,
        monkeypatch,
        "c.NotebookJobs.db_path = '/data/jobs.sqlite'\nc.NotebookJobs.max_run_seconds = 3600\n"
        "c.BrokeredAWSMixin.broker_url_for_servers = 'http://hub:8181/services/aws-credentials/'\n"
        "c.BrokeredAWSMixin.aws_endpoint_url = 'http://moto:5000'",
    )
    broker = hub.config.JupyterHub.services.get_value([])[0]
    assert json.loads(broker["environment"]["CREDENTIAL_BROKER_CONFIG"])["NotebookJobs"] == {
        "db_path": "/data/jobs.sqlite",
        "max_run_seconds": 3600,
        "broker_url": "http://hub:8181/services/aws-credentials/",
        "aws_endpoint_url": "http://moto:5000",
    }


def test_a_bad_job_setting_stops_the_hub_at_start_up(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        hub_loading(tmp_path, monkeypatch, "c.NotebookJobs.max_run_seconds = 10")
    assert "NotebookJobs.max_run_seconds must be at least 300 (got 10)" in capsys.readouterr().err
