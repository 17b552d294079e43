"""The "Scheduled runs" page's pure parts: schedules in words and back in the form, what a job and a run show (and
to whom), the Airflow trigger request, the notebooks offered in the form, and the HTML."""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape

import pytest
from traitlets.config import Config

from authenticator.access_policy import load_access_policy
from hub.broker.access_page import page_links, render_access_page
from hub.broker.settings import CONFIG_VARIABLE, process_environment
from hub.jobs import validation
from hub.jobs.airflow_api import AirflowApi, dag_id, trigger_body
from hub.jobs.home_notebooks import listed_notebooks
from hub.jobs.pages import (
    NOTICES,
    SCHEDULE_KINDS,
    WEEKDAY_CHOICES,
    job_values,
    job_view,
    lab_tree_url,
    render,
    run_view,
    schedule_choice,
    schedule_in_words,
    validated_job,
)
from hub.jobs.store import FAILED, QUEUED, RUNNING, SUCCESS, Job, Run

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
NOW = datetime(2026, 11, 30, 6, 10, 30, tzinfo=UTC)
JOB = Job(
    id="a1b2c3d4e5",
    owner="sam",
    name="Daily sales",
    notebook_key="reports/daily.ipynb",
    schedule="0 7 * * *",
    access_group="data-engineers",
    parameters={"days": 7},
    paused=False,
    created_at=datetime(2026, 11, 1, tzinfo=UTC),
    updated_at=datetime(2026, 11, 1, tzinfo=UTC),
)
FINISHED = Run(
    id="r1r2r3r4r5",
    job_id=JOB.id,
    airflow_run_id="requested__abc",
    logical_date=None,
    request_id="abc",
    requested_by="sam",
    state=SUCCESS,
    reason=None,
    requested_at=datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC),
    started_at=datetime(2026, 11, 30, 6, 0, 5, tzinfo=UTC),
    finished_at=datetime(2026, 11, 30, 6, 1, 17, tzinfo=UTC),
    notebook_version="3HL4kqtJlcpXroDTDmJ",
    parameters={"days": 7},
    token_id=None,
)
LAB = lab_tree_url("/", "sam")
LINKS = {**page_links("/hub/", "/services/aws-credentials/", "sam"), "active": "jobs"}
ENGINEER = {"access_group": "data-engineers", "display_name": "Data Engineers", "role_arn": "x"}
ANALYST = {"access_group": "analysts", "display_name": "Analysts", "role_arn": "y"}


def words(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 * * * *", "Every hour"),
        ("15 * * * *", "Every hour at 15 minutes past"),
        ("30 6 * * *", "Every day at 06:30 UTC"),
        ("0 7 * * 1", "Every Monday at 07:00 UTC"),
        ("0 7 * * 0", "Every Sunday at 07:00 UTC"),
        ("0 7 * * 7", "Every Sunday at 07:00 UTC"),
        ("30 6 * * 1-5", "Custom schedule"),
        ("*/5 * * * *", "Custom schedule"),
        ("0 7 1 * *", "Custom schedule"),
    ],
)
def test_a_schedule_in_words(cron, expected):
    assert schedule_in_words(cron) == expected


@pytest.mark.parametrize(
    ("kind", "time", "day", "cron_text"),
    [
        ("hourly", "", "monday", ""),
        ("daily", "06:30", "monday", ""),
        ("weekly", "23:05", "friday", ""),
        ("weekly", "00:00", "sunday", ""),
        ("cron", "", "monday", "30 6 * * 1-5"),
    ],
)
def test_the_edit_form_shows_a_stored_schedule_as_it_was_chosen(kind, time, day, cron_text):
    stored = validation.schedule(kind, cron_text=cron_text, time=time, day=day)
    assert schedule_choice(stored) == {"schedule": kind, "time": time, "day": day, "cron": cron_text}


def test_a_job_as_listed():
    assert job_view(JOB, POLICY, NOW, "sam", "/services/aws-credentials/jobs") == {
        "id": "a1b2c3d4e5",
        "name": "Daily sales",
        "owner": "sam",
        "own": True,
        "notebook": "reports/daily.ipynb",
        "schedule_words": "Every day at 07:00 UTC",
        "cron": "0 7 * * *",
        "role": "Data Engineers",
        "paused": False,
        "next_run": {"utc": "2026-11-30 07:00 UTC", "relative": "in 49 minutes"},
        "parameters_text": '{"days": 7}',
        "url": "/services/aws-credentials/jobs/a1b2c3d4e5",
    }
    paused = job_view(replace(JOB, paused=True), POLICY, NOW, "alex", "/j")
    assert paused["next_run"] is None and paused["own"] is False


def test_a_finished_run_links_to_its_notebook_and_log_in_the_owners_jupyterlab():
    view = run_view(FINISHED, JOB, NOW, LAB)
    assert view == {
        "id": "r1r2r3r4r5",
        "state": "success",
        "state_text": "succeeded",
        "badge": "text-bg-success",
        "trigger": "asked for by sam",
        "reason": None,
        "requested": {"utc": "2026-11-30 06:00 UTC", "relative": "10 minutes ago"},
        "started": {"utc": "2026-11-30 06:00 UTC", "relative": "10 minutes ago"},
        "duration": "1 min 12 s",
        "notebook_version": "3HL4kqtJlcpXroDTDmJ",
        "output_url": "/user/sam/lab/tree/runs/a1b2c3d4e5/r1r2r3r4r5/output.ipynb",
        "log_url": "/user/sam/lab/tree/runs/a1b2c3d4e5/r1r2r3r4r5/run.log",
        "can_run_again": True,
    }


def test_an_admin_sees_a_run_without_links_or_run_again():
    view = run_view(FINISHED, JOB, NOW, None)
    assert (view["output_url"], view["log_url"], view["can_run_again"]) == (None, None, False)
    assert view["state_text"] == "succeeded"


def test_a_run_refused_before_it_started_has_its_reason_and_nothing_to_repeat():
    refused = replace(
        FINISHED,
        state=FAILED,
        request_id=None,
        requested_by=None,
        logical_date=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        started_at=None,
        notebook_version=None,
        parameters=None,
        reason="sam is no longer eligible for the role of access group 'data-engineers'.",
    )
    view = run_view(refused, JOB, NOW, LAB)
    assert view["trigger"] == "scheduled for 2026-11-30 06:00 UTC"
    assert view["reason"] == "sam is no longer eligible for the role of access group 'data-engineers'."
    assert (view["output_url"], view["can_run_again"], view["duration"]) == (None, False, None)


def test_waiting_and_running_runs():
    waiting = run_view(replace(FINISHED, state=QUEUED, started_at=None, finished_at=None), JOB, NOW, LAB)
    assert (waiting["state_text"], waiting["started"], waiting["can_run_again"]) == ("waiting to start", None, False)
    running = run_view(replace(FINISHED, state=RUNNING, finished_at=None), JOB, NOW, LAB)
    assert (running["state_text"], running["duration"]) == ("running", "10 min 25 s so far")
    assert running["output_url"] is None


def test_the_form_is_validated_in_its_order_into_the_stores_fields():
    values = {
        "name": " Daily sales ",
        "notebook": "/reports/daily.ipynb",
        "schedule": "weekly",
        "time": "07:00",
        "day": "monday",
        "cron": "ignored for presets",
        "access_group": "",
        "parameters": '{"days": 7}',
    }
    assert validated_job(values, [ENGINEER], "home/sam/") == {
        "name": "Daily sales",
        "notebook_key": "reports/daily.ipynb",
        "schedule": "0 7 * * 1",
        "access_group": "data-engineers",
        "parameters": {"days": 7},
    }
    with pytest.raises(validation.Invalid) as refused:
        validated_job({**values, "access_group": ""}, [ENGINEER, ANALYST], "home/sam/")
    assert refused.value.field == "access_group"


def test_airflow_is_asked_for_one_dag_run_per_request():
    assert dag_id("a1b2c3d4e5") == "notebook-job-a1b2c3d4e5"
    assert trigger_body("0123abcd", "Run now by sam") == {
        "dag_run_id": "requested__0123abcd",
        "logical_date": None,
        "conf": {"request_id": "0123abcd"},
        "note": "Run now by sam",
    }


def test_airflow_settings():
    assert AirflowApi().client() is None, "no Airflow set up: no client"
    client = AirflowApi(url="http://airflow:8080/", username="hub").client({"AIRFLOW_API_PASSWORD": "pw"})
    assert (client.api_url, client.username, client.password) == ("http://airflow:8080", "hub", "pw")
    with pytest.raises(Exception, match=r"AirflowApi.url must be an http:// or https:// URL with a host"):
        AirflowApi(url="airflow:8080")
    with pytest.raises(Exception, match=r"AirflowApi.timeout_seconds must be more than 0 seconds"):
        AirflowApi(timeout_seconds=0)


def test_the_form_offers_notebooks_but_not_run_outputs_or_checkpoints():
    keys = [
        "home/sam/a.ipynb",
        "home/sam/reports/daily.ipynb",
        "home/sam/reports/data.csv",
        "home/sam/runs/a1b2c3d4e5/r1r2r3r4r5/output.ipynb",
        "home/sam/.ipynb_checkpoints/a-checkpoint.ipynb",
        "home/sam/reports/.ipynb_checkpoints/daily-checkpoint.ipynb",
        "home/samantha/other.ipynb",
    ]
    assert listed_notebooks(keys, "home/sam/") == ["a.ipynb", "reports/daily.ipynb"]


def test_the_job_page_shows_owner_controls_with_xsrf_and_admins_only_pause():
    job, runs = job_view(JOB, POLICY, NOW, "sam", "/j"), [run_view(FINISHED, JOB, NOW, LAB)]
    xsrf = '<input type="hidden" name="_xsrf" value="the-xsrf-token">'
    html = render("job.html", LINKS, xsrf=xsrf, job=job, runs=runs, notice=NOTICES["requested"], problem=None)
    assert html.count(xsrf) == 3, "run now, pause, run again exactly: every form carries the token"
    text = words(html)
    assert "Run now" in text and "Edit" in text and "Delete" in text and "Pause" in text
    assert "Every day at 07:00 UTC (cron 0 7 * * * , UTC)" in text
    assert 'href="/user/sam/lab/tree/runs/a1b2c3d4e5/r1r2r3r4r5/output.ipynb"' in html
    assert "Run again exactly" in text
    admins = render(
        "job.html",
        LINKS,
        xsrf=xsrf,
        job=job_view(JOB, POLICY, NOW, "alex", "/j"),
        runs=[run_view(FINISHED, JOB, NOW, None)],
        notice=None,
        problem=None,
    )
    text = words(admins)
    assert "sam's job, which you see as a hub admin." in text
    assert "Pause" in text
    assert not any(control in text for control in ("Run now", "Edit", "Delete", "Run again exactly"))
    assert "lab/tree" not in admins


def test_the_navigation_marks_the_page_shown():
    access = render_access_page(
        {"own_page": True, "username": "sam", "display_name": "Sam", "allowed": False, "granting_groups": []},
        page_links("/hub/", "/services/aws-credentials/", "sam"),
    )
    assert '<a class="nav-link active" aria-current="page" href="/services/aws-credentials/access">' in access
    assert '<a class="nav-link" href="/services/aws-credentials/jobs">Scheduled runs</a>' in access
    jobs = render("jobs.html", LINKS, xsrf="", view={"own_jobs": [], "viewer_is_admin": False, "notice": None})
    assert '<a class="nav-link active" aria-current="page" href="/services/aws-credentials/jobs">' in jobs
    assert "You have no scheduled notebooks yet." in words(jobs)


def test_the_airflow_password_reaches_the_broker_process_and_nothing_else_of_airflows():
    environ = {"AIRFLOW_API_PASSWORD": "the-password", "AIRFLOW__CORE__FERNET_KEY": "not-for-the-broker"}
    passed = process_environment(environ, Config())
    assert passed["AIRFLOW_API_PASSWORD"] == "the-password"
    assert "AIRFLOW__CORE__FERNET_KEY" not in passed
    config = Config({"AirflowApi": {"url": "http://airflow:8080"}})
    assert json.loads(process_environment({}, config)[CONFIG_VARIABLE]) == {
        "AirflowApi": {"url": "http://airflow:8080"}
    }


def test_the_edit_form_holds_the_stored_job():
    form = {
        "creating": False,
        "title": "Edit Daily sales",
        "action": "/j/a1b2c3d4e5/edit",
        "back_url": "/j/a1b2c3d4e5",
        "fields": job_values(replace(JOB, schedule="0 7 * * 1")),
        "error": None,
        "roles": [ENGINEER, ANALYST],
        "notebooks": ["reports/daily.ipynb"],
        "schedule_kinds": SCHEDULE_KINDS,
        "weekdays": WEEKDAY_CHOICES,
    }
    html = render("job_form.html", LINKS, xsrf="", form=form)
    assert 'name="name" value="Daily sales"' in html
    assert 'name="notebook" value="reports/daily.ipynb"' in html
    assert '<option value="weekly" selected>Every week</option>' in html
    assert '<option value="monday" selected>Monday</option>' in html
    assert 'name="time" value="07:00"' in html
    assert '<option value="data-engineers" selected>Data Engineers</option>' in html
    assert '>{\n "days": 7\n}</textarea>' in unescape(html)
