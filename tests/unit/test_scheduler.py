"""The Airflow side's pure parts: the job list and its cache, the run's environment and commands, failure reasons,
the broker client's refusals, Airflow's own environment, the notebook's OS user. No Airflow here
(tests/integration/test_scheduled_runs.py)."""

import json
import os
import re
from pathlib import Path

import pytest

from scheduler import run_as, run_notebook
from scheduler.broker_client import BrokerRefused, BrokerUnreachable, SchedulerAccess, refusal
from scheduler.jobs import BadJobList, Job, current_jobs, jobs_from_answer, read_cache, write_cache
from scheduler.local_airflow import DAGS_FOLDER, AirflowSecrets, AirflowSettings, airflow_environment, server_commands
from scheduler.run_notebook import RunFailed, RunGrant

pytestmark = pytest.mark.unit

ANSWER = {
    "run_id": "r1",
    "token": "run-token-value",
    "owner": "sam",
    "session_name": "sam-job-abcdefghij",
    "bucket": "notebooks",
    "notebook_key": "home/sam/daily.ipynb",
    "notebook_version": None,
    "parameters": {"day": "monday"},
    "output_prefix": "home/sam/runs/abcdefghij/r1/",
    "broker_url": "http://hub:8181/services/aws-credentials/",
    "region": "eu-west-1",
    "s3_endpoint_url": None,
}


# ---- the job list -------------------------------------------------------------------------------------------------


def test_jobs_become_dags_and_a_paused_job_has_no_schedule():
    answer = {
        "jobs": [
            {"id": "bbbbbbbbb2", "owner": "ana", "name": "weekly", "schedule": "0 6 * * 1", "paused": True},
            {"id": "aaaaaaaaa1", "owner": "sam", "name": "daily", "schedule": "30 7 * * *", "paused": False},
        ]
    }
    jobs = jobs_from_answer(answer)
    assert jobs == [Job("aaaaaaaaa1", "sam", "daily", "30 7 * * *"), Job("bbbbbbbbb2", "ana", "weekly", None)]
    assert [job.dag_id for job in jobs] == ["notebook-job-aaaaaaaaa1", "notebook-job-bbbbbbbbb2"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({}, 'the answer has no "jobs" list'),
        ({"jobs": ["x"]}, "a job is not an object"),
        ({"jobs": [{"id": "../etc", "schedule": "@daily", "paused": False}]}, "job id '../etc' is not 10 lowercase"),
        ({"jobs": [{"id": "ABCDEFGHIJ", "schedule": "@daily", "paused": False}]}, "job id 'ABCDEFGHIJ' is not 10"),
        ({"jobs": [{"id": "aaaaaaaaa1", "schedule": "", "paused": False}]}, "job aaaaaaaaa1 has no schedule"),
        ({"jobs": [{"id": "aaaaaaaaa1", "schedule": "@daily"}]}, "job aaaaaaaaa1 does not say whether it is paused"),
        (
            {"jobs": [{"id": "aaaaaaaaa1", "schedule": "@daily", "paused": False}] * 2},
            "job aaaaaaaaa1 is listed twice",
        ),
    ],
)
def test_a_malformed_job_list_is_refused_whole(answer, message):
    with pytest.raises(BadJobList, match="^" + re.escape(message)):
        jobs_from_answer(answer)


def test_the_last_good_job_list_is_kept_when_the_broker_cannot_answer(tmp_path):
    cache = tmp_path / "notebook-jobs.json"
    good = {"jobs": [{"id": "aaaaaaaaa1", "owner": "sam", "name": "daily", "schedule": "@daily", "paused": False}]}
    assert current_jobs(lambda: good, cache) == [Job("aaaaaaaaa1", "sam", "daily", "@daily")]

    def unreachable():
        raise BrokerUnreachable("the credential broker at http://hub could not be reached (refused)")

    def refused():
        raise BrokerRefused(403, "forbidden", "Only the notebook-scheduler service may call this.")

    for failing in (unreachable, refused, lambda: {"jobs": "nonsense"}):
        assert current_jobs(failing, cache) == [Job("aaaaaaaaa1", "sam", "daily", "@daily")]
    # An empty list is a good answer too: every job was deleted.
    assert current_jobs(lambda: {"jobs": []}, cache) == []
    assert current_jobs(unreachable, cache) == []


def test_no_cache_and_no_broker_means_no_dags_not_a_crash(tmp_path):
    def unreachable():
        raise BrokerUnreachable("down")

    assert current_jobs(unreachable, tmp_path / "absent.json") == []
    (tmp_path / "broken.json").write_text("{not json")
    assert current_jobs(unreachable, tmp_path / "broken.json") == []


def test_the_cache_is_replaced_whole(tmp_path):
    cache = tmp_path / "deeper" / "notebook-jobs.json"
    write_cache(cache, [Job("aaaaaaaaa1", "sam", "daily", None)])
    assert json.loads(cache.read_text()) == [{"id": "aaaaaaaaa1", "owner": "sam", "name": "daily", "schedule": None}]
    assert read_cache(cache) == [Job("aaaaaaaaa1", "sam", "daily", None)]
    assert [p.name for p in cache.parent.iterdir()] == ["notebook-jobs.json"]  # no temporary file left


# ---- the broker client --------------------------------------------------------------------------------------------


def test_the_scheduler_reads_its_token_and_the_brokers_url_from_its_environment():
    access = SchedulerAccess.from_environment(
        {"NOTEBOOK_SCHEDULER_TOKEN": "t", "NOTEBOOK_SCHEDULER_BROKER_URL": "http://hub:8181/services/aws-credentials/"}
    )
    assert access.url("v1/scheduler/jobs") == "http://hub:8181/services/aws-credentials/v1/scheduler/jobs"
    with pytest.raises(
        BrokerUnreachable, match="^" + re.escape("NOTEBOOK_SCHEDULER_TOKEN is not set in Airflow's environment")
    ):
        SchedulerAccess.from_environment({"NOTEBOOK_SCHEDULER_BROKER_URL": "http://hub"})
    with pytest.raises(BrokerUnreachable, match="^" + re.escape("NOTEBOOK_SCHEDULER_BROKER_URL is not set")):
        SchedulerAccess.from_environment({"NOTEBOOK_SCHEDULER_TOKEN": "t"})


def test_a_refusal_carries_the_brokers_reason():
    e = refusal(409, json.dumps({"error": "paused", "message": "The job is paused."}).encode())
    assert (e.status, e.error, e.message) == (409, "paused", "The job is paused.")
    e = refusal(502, b"<html>Bad gateway</html>")
    assert (e.status, e.error, e.message) == (502, "http_error", "the credential broker answered HTTP 502")


# ---- the run ------------------------------------------------------------------------------------------------------


def test_the_run_grant_hides_its_token_and_refuses_an_incomplete_answer():
    grant = RunGrant.from_answer({**ANSWER, "extra": "ignored"})
    assert "run-token-value" not in repr(grant)
    assert grant.notebook_location == "s3://notebooks/home/sam/daily.ipynb"
    assert RunGrant.from_answer({**ANSWER, "notebook_version": "v7"}).notebook_location == (
        "s3://notebooks/home/sam/daily.ipynb (version v7)"
    )
    with pytest.raises(
        RunFailed, match="^" + re.escape("the credential broker's answer to the run start lacks 'output_prefix'")
    ):
        RunGrant.from_answer({k: v for k, v in ANSWER.items() if k != "output_prefix"})
    with pytest.raises(
        RunFailed, match="^" + re.escape("the credential broker's answer to the run start is incomplete")
    ):
        RunGrant.from_answer({**ANSWER, "token": ""})


def test_the_aws_config_runs_the_credential_helper():
    command = run_notebook.helper_command("/opt/air flow/bin/python", Path("/repo/hub/aws_credential_process.py"))
    assert command == '"/opt/air flow/bin/python" -I /repo/hub/aws_credential_process.py'
    assert run_notebook.aws_config_text(command, "eu-west-1") == (
        "[default]\n"
        'credential_process = "/opt/air flow/bin/python" -I /repo/hub/aws_credential_process.py\n'
        "region = eu-west-1\n"
    )


def test_the_notebook_process_gets_only_what_it_needs():
    grant = RunGrant.from_answer(ANSWER)
    env = run_notebook.notebook_environment(
        grant, config_file="/tmp/run/aws-config", home="/tmp/run/home", path="/usr/bin:/bin", lang="C.UTF-8"
    )
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp/run/home",
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": "/tmp/run/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_SDK_LOAD_CONFIG": "1",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "JUPYTERHUB_AWS_BROKER_URL": "http://hub:8181/services/aws-credentials/",
        "JUPYTERHUB_API_TOKEN": "run-token-value",
    }
    local = RunGrant.from_answer({**ANSWER, "s3_endpoint_url": "http://127.0.0.1:5000"})
    env = run_notebook.notebook_environment(local, config_file="c", home="h", path="p", lang="l")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"


def test_papermill_runs_the_notebook_with_the_parameters_file_and_one_kernel():
    command = run_notebook.papermill_command(
        "/venv/bin/python", Path("/w/input.ipynb"), Path("/w/output.ipynb"), Path("/w/parameters.json"), Path("/w/home")
    )
    assert command == [
        "/venv/bin/python",
        "-m",
        "papermill",
        "/w/input.ipynb",
        "/w/output.ipynb",
        "--parameters_file",
        "/w/parameters.json",
        "--kernel",
        "python3",
        "--cwd",
        "/w/home",
        "--log-output",
        "--no-progress-bar",
    ]


def test_the_failure_reason_names_the_cell_and_the_exception():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "An Exception was encountered at 'In [3]'."},
            {"cell_type": "code", "execution_count": 1, "source": "x = 1", "outputs": []},
            {
                "cell_type": "code",
                "execution_count": 3,
                "source": ["df = load(day)\n", "df.check()"],
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "loading\n"},
                    {"output_type": "error", "ename": "KeyError", "evalue": "'monday'", "traceback": []},
                ],
            },
            {"cell_type": "code", "execution_count": None, "source": "later()", "outputs": []},
        ]
    }
    assert (
        run_notebook.notebook_failure(notebook) == "cell In [3] (starting \"df = load(day)\") raised KeyError: 'monday'"
    )
    assert run_notebook.notebook_failure({"cells": notebook["cells"][:2]}) is None


def test_a_papermill_failure_without_a_notebook_gives_its_last_words():
    log = "Input Notebook:  input.ipynb\nExecuting:   0%|\nNoSuchKernel: No such kernel named python3\n\n"
    assert run_notebook.log_failure(log) == "papermill failed: NoSuchKernel: No such kernel named python3"
    assert run_notebook.log_failure("") == "papermill failed without a message"
    assert len(run_notebook.log_failure("x" * 2000)) == run_notebook.REASON_MAX_CHARS


# ---- Airflow's own environment ------------------------------------------------------------------------------------


def test_airflow_inherits_no_aws_or_hub_secret_and_listens_on_loopback_only():
    settings = AirflowSettings(Path("/state/airflow"), 8280, "http://127.0.0.1:8181/services/aws-credentials/", "svc")
    the = AirflowSecrets("pw", "jwt", "key", "fernet", "hub-pw")
    base = {
        "PATH": "/usr/bin",
        "AWS_ACCESS_KEY_ID": "moto-key",
        "AWS_SECRET_ACCESS_KEY": "moto-secret",
        "JUPYTERHUB_API_TOKEN": "a-hub-token",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "True",
        "CREDENTIAL_BROKER_CONFIG": "{}",
    }
    env = airflow_environment(base, settings, the)
    assert [name for name in env if name.startswith(("AWS_", "JUPYTERHUB_", "CREDENTIAL_BROKER"))] == []
    assert env["PATH"] == "/usr/bin"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8280/execution/"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "sqlite:////state/airflow/airflow.db"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert (env["NOTEBOOK_SCHEDULER_TOKEN"], env["NOTEBOOK_SCHEDULER_BROKER_URL"]) == ("svc", settings.broker_url)
    assert "svc" not in repr(settings) and "pw" not in repr(the)


def test_the_scheduler_does_not_start_the_task_log_server():
    settings = AirflowSettings(Path("/state/airflow"), 8280, "http://broker/", "svc")
    assert server_commands(settings) == {
        "airflow-api-server": [settings.airflow, "api-server"],
        "airflow-scheduler": [settings.airflow, "scheduler", "--skip-serve-logs"],
        "airflow-dag-processor": [settings.airflow, "dag-processor"],
    }


class RecordingAccess:
    """The broker client's two run calls, answered from memory (the HTTP side is the integration tests')."""

    def __init__(self, answer: dict):
        self.answer, self.finished = answer, []

    def start_run(self, job_id, airflow_run_id, logical_date, request_id):
        return self.answer

    def finish_run(self, run_id, state, reason, notebook_version):
        self.finished.append((run_id, state, reason, notebook_version))


def test_a_run_airflow_stops_still_ends_at_the_broker(monkeypatch):
    def stopped(*args):
        raise KeyboardInterrupt  # what Airflow's task timeout or a stop from the UI looks like inside the task

    monkeypatch.setattr(run_notebook, "execute", stopped)
    access = RecordingAccess({**ANSWER, "notebook_version": "v3"})
    with pytest.raises(KeyboardInterrupt):
        run_notebook.run("abcdefghij", "manual__1", None, "req", access=access)
    assert access.finished == [("r1", "failed", run_notebook.STOPPED, "v3")]


def test_a_started_run_with_an_unusable_answer_is_finished_at_once():
    access = RecordingAccess({**ANSWER, "bucket": ""})
    with pytest.raises(RunFailed) as refused:
        run_notebook.run("abcdefghij", "manual__1", None, "req", access=access)
    reason = "the credential broker's answer to the run start is incomplete; tell your administrator"
    assert refused.value.reason == reason
    assert access.finished == [("r1", "failed", reason, None)]


# ---- the notebook's OS user (scheduler/run_as.py) -----------------------------------------------------------------

JOVYAN = run_as.NotebookUser("jovyan", 1000, 100)


@pytest.mark.parametrize(
    ("cap_eff", "expected"),
    [
        ("000001ffffffffff", {"CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"}),  # root with the default set
        ("00000000000000c3", {"CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"}),  # the job pod: drop ALL, add those four
        ("00000000000000c1", {"CHOWN", "SETGID", "SETUID"}),
        ("0000000000000000", set()),  # uid 1000, or root with every capability dropped
    ],
)
def test_the_capabilities_come_from_the_processs_status(cap_eff, expected):
    status = f"Name:\tpython\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t{cap_eff}\nCapEff:\t{cap_eff}\n"
    assert run_as.effective_capabilities(status) == expected
    assert run_as.effective_capabilities("Name:\tpython\n") == set()


ALL = frozenset(run_as.SWITCH_CAPABILITIES)


@pytest.mark.parametrize(
    ("setting", "user", "own_uid", "capabilities", "reason"),
    [
        (
            "jovian",
            None,
            0,
            ALL,
            'the notebook cannot run as "jovian" (NOTEBOOK_RUN_AS_USER): no such user where the task runs; tell your '
            "administrator (it must name an existing user, e.g. jovyan)",
        ),
        (
            "0",
            run_as.NotebookUser("root", 0, 0),
            0,
            ALL,
            'the notebook cannot run as "0" (NOTEBOOK_RUN_AS_USER): that is root, which would give the notebook every '
            "privilege; tell your administrator (it must name another user)",
        ),
        (
            "jovyan",
            JOVYAN,
            1000,
            frozenset(),
            'the notebook cannot run as "jovyan" (NOTEBOOK_RUN_AS_USER): that is the user the task itself runs as (uid '
            "1000), so the notebook could read the scheduler's token; tell your administrator (the task must run as "
            "root to switch, helm/airflow-values.yaml)",
        ),
        (
            "jovyan",
            JOVYAN,
            0,
            frozenset({"SETGID", "DAC_OVERRIDE"}),
            'the notebook cannot run as "jovyan" (NOTEBOOK_RUN_AS_USER): the task (uid 0) lacks the capabilities '
            "CHOWN, SETUID needed to switch users; tell your administrator (the job pod's container runs as root with "
            "CHOWN, DAC_OVERRIDE, SETGID, SETUID)",
        ),
        ("jovyan", JOVYAN, 0, ALL, None),
    ],
)
def test_the_notebook_user_is_refused_with_the_reason(setting, user, own_uid, capabilities, reason):
    assert run_as.refusal(setting, user, own_uid, capabilities) == reason


def test_the_notebook_user_is_found_by_name_or_uid_and_runs_with_its_own_group_only():
    assert run_as.find_user("root") == run_as.find_user("0") == run_as.NotebookUser("root", 0, 0)
    assert run_as.find_user("no-such-user-here") is None
    assert JOVYAN.process_identity() == {"user": 1000, "group": 100, "extra_groups": []}
    assert run_as.probe_command("/venv/bin/python", Path("/repo/hub/aws_credential_process.py")) == [
        "/venv/bin/python",
        "-I",
        "-c",
        "import sys; open(sys.argv[1], 'rb').close()",
        "/repo/hub/aws_credential_process.py",
    ]


def test_the_task_reads_back_only_a_regular_file_of_the_notebooks_user(tmp_path):
    me = os.geteuid()
    executed = tmp_path / "output.ipynb"
    executed.write_bytes(b"{}")
    assert run_as.read_users_file(executed, me) == b"{}"
    assert run_as.read_users_file(executed, me + 1) is None  # someone else's file
    assert run_as.read_users_file(tmp_path / "missing.ipynb", me) is None
    planted = tmp_path / "planted.ipynb"
    planted.symlink_to(executed)  # e.g. to /proc/1/environ or a token file of the task's
    assert run_as.read_users_file(planted, me) is None
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)  # would block a plain open() for ever
    assert run_as.read_users_file(fifo, me) is None


def test_an_unknown_notebook_user_fails_the_run_with_the_reason_before_any_credentials(monkeypatch):
    asked = []
    monkeypatch.setattr(run_notebook, "helper_credentials", lambda *args: asked.append(args))
    access = RecordingAccess(ANSWER)
    result = run_notebook.run(
        "abcdefghij", "manual__1", None, "req", access=access, base_env={"NOTEBOOK_RUN_AS_USER": "no-such-user-here"}
    )
    reason = (
        'the notebook cannot run as "no-such-user-here" (NOTEBOOK_RUN_AS_USER): no such user where the task runs; '
        "tell your administrator (it must name an existing user, e.g. jovyan)"
    )
    assert (result.state, result.reason) == ("failed", reason)
    assert access.finished == [("r1", "failed", reason, None)]
    assert asked == [], "no credentials were asked for, so nothing could be read or written in S3"


def test_no_notebook_user_means_the_tasks_own():
    assert run_notebook.notebook_user({"NOTEBOOK_RUN_AS_USER": "  "}, "/venv/bin/python") is None
    assert run_notebook.notebook_user({}, "/venv/bin/python") is None
