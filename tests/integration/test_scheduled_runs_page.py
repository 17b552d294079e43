"""The "Scheduled runs" page in a real JupyterHub: served by the broker behind the hub's OAuth, the person's notebooks
checked and listed in moto with their own credentials, the job store the broker writes (read here from its file).

Airflow is not running for this hub: its API URL points at a port where nothing listens, so "Run now" shows that
Airflow did not answer and leaves the request queued (the trigger itself is tested against a real Airflow in
test_scheduled_runs_airflow_trigger.py, the whole path in the browser test).
"""

import re
from html import unescape

import boto3
import pytest
import requests

from hub.jobs.store import QUEUED, SUCCESS, JobStore
from tests.fixtures.jupyterhub import BUCKET, person, start_hub, stop_hub
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

JOBS = "/services/aws-credentials/jobs"
STILL_QUEUED = "Your run request is kept and will be sent again; nothing has started yet."
XSRF_REFUSED = (
    "This form was not accepted: it did not come from the scheduled-runs page, or your sign-in ended. Open the page "
    "again and repeat what you did."
)
SAM, ANA, ALEX = "pg-sam", "pg-ana", "pg-alex"
NOTEBOOK = "reports/daily.ipynb"


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture(scope="module")
def hub(hub_moto, tmp_path_factory):
    hub = start_hub(
        tmp_path_factory.mktemp("jobs-page-hub"),
        hub_moto,
        # An Airflow that does not answer (the hub's account and password are set, as in a deployment).
        extra_env={"HUB_TEST_AIRFLOW_URL": f"http://127.0.0.1:{free_port()}", "AIRFLOW_API_PASSWORD": "a-password"},
    )
    hub.add_people(
        {SAM: person("analysts", "data-engineers"), ANA: person("analysts"), ALEX: person("platform-admins")}
    )
    s3 = boto3.client(
        "s3", endpoint_url=hub_moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    for key in (f"home/{SAM}/{NOTEBOOK}", f"home/{SAM}/scratch.ipynb", f"home/{ANA}/mine.ipynb"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    s3.put_object(Bucket=BUCKET, Key=f"home/{SAM}/runs/x/y/output.ipynb", Body=b"{}")  # an output: not offered
    hub.store = JobStore(str(hub.state / "notebook-jobs.sqlite"))
    hub.sessions = {name: hub.login(name) for name in (SAM, ANA, ALEX)}
    yield hub
    hub.store.close()
    stop_hub(hub)


def get(hub, who: str, path: str = "", **params) -> requests.Response:
    """A page as the person's browser gets it (through the hub's OAuth the first time)."""
    return hub.sessions[who].get(f"{hub.url}{JOBS}{path}", params=params or None, timeout=60)


def xsrf_of(html: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', html)
    assert match, "the page has a form with the XSRF token"
    return match.group(1)


def post(hub, who: str, path: str, data: dict | None = None, form_page: str = "/new") -> requests.Response:
    """A form sent as the browser sends it: with the XSRF token of the page it is on (not following the redirect)."""
    token = xsrf_of(get(hub, who, form_page).text)
    return hub.sessions[who].post(
        f"{hub.url}{JOBS}{path}", data={**(data or {}), "_xsrf": token}, allow_redirects=False, timeout=60
    )


def new_job_form(**changes) -> dict:
    return {
        "name": "Daily sales",
        "notebook": NOTEBOOK,
        "schedule": "daily",
        "time": "06:30",
        "day": "monday",
        "cron": "",
        "access_group": "data-engineers",
        "parameters": '{"days": 7}',
        **changes,
    }


def create(hub, who: str, **changes):
    response = post(hub, who, "/new", new_job_form(**changes), form_page="/new")
    assert response.status_code == 302, text(response.text)[-800:]
    job_id = re.search(rf"{JOBS}/([a-z0-9]{{10}})\?done=created$", response.headers["Location"]).group(1)
    return hub.store.job(job_id)


def editable(job) -> tuple:
    return (job.owner, job.name, job.notebook_key, job.schedule, job.access_group, job.parameters, job.paused)


def jobs_of(hub, who: str) -> list:
    return hub.store.jobs(owner=who)


# ---- a person's own jobs ---------------------------------------------------------------------------------------------


def test_sam_schedules_a_notebook_from_his_home_with_one_of_his_roles(hub):
    form = get(hub, SAM, "/new")
    assert form.status_code == 200 and form.url == f"{hub.url}{JOBS}/new"
    html = form.text
    assert '<option value="analysts">Analysts</option>' in html
    assert '<option value="data-engineers">Data Engineers</option>' in html
    offered = re.findall(r'<datalist id="your-notebooks">(.*?)</datalist>', html)[0]
    assert re.findall(r'<option value="([^"]+)">', offered) == [NOTEBOOK, "scratch.ipynb"], "his notebooks, no output"

    response = post(hub, SAM, "/new", new_job_form(), form_page="/new")
    assert response.status_code == 302
    job = jobs_of(hub, SAM)[0]
    assert (job.name, job.notebook_key, job.schedule, job.access_group, job.parameters, job.paused) == (
        "Daily sales",
        NOTEBOOK,
        "30 6 * * *",
        "data-engineers",
        {"days": 7},
        False,
    )
    assert response.headers["Location"] == f"{JOBS}/{job.id}?done=created"
    page = text(hub.sessions[SAM].get(f"{hub.url}{response.headers['Location']}", timeout=60).text)
    assert "The job is scheduled." in page
    assert "Notebook reports/daily.ipynb Schedule Every day at 06:30 UTC (cron 30 6 * * * , UTC)" in page
    assert "AWS role Data Engineers" in page and "No runs yet." in page

    listing = text(get(hub, SAM).text)
    assert "Daily sales reports/daily.ipynb Every day at 06:30 UTC 30 6 * * * Data Engineers" in listing


def test_the_form_can_be_opened_with_the_notebook_filled_in(hub):
    # what a link from JupyterLab ("schedule this notebook") opens
    html = get(hub, SAM, "/new", notebook="reports/daily.ipynb").text
    assert 'name="notebook" value="reports/daily.ipynb"' in html


def test_a_person_with_one_role_is_not_asked_for_it(hub):
    html = get(hub, ANA, "/new").text
    assert 'name="access_group"' not in html
    assert "Analysts (your only role)" in text(html)
    job = create(hub, ANA, name="Mine", notebook="mine.ipynb", access_group="", schedule="hourly")
    assert (job.access_group, job.schedule) == ("analysts", "0 * * * *")


def test_sam_edits_his_job(hub):
    job = create(hub, SAM, name="To edit")
    form = get(hub, SAM, f"/{job.id}/edit").text
    assert 'value="To edit"' in form and '<option value="daily" selected>' in form and 'value="06:30"' in form
    response = post(
        hub,
        SAM,
        f"/{job.id}/edit",
        new_job_form(name="Edited", schedule="weekly", day="monday", time="07:00", access_group="analysts"),
        form_page=f"/{job.id}/edit",
    )
    assert response.status_code == 302 and response.headers["Location"] == f"{JOBS}/{job.id}?done=saved"
    edited = hub.store.job(job.id)
    assert (edited.name, edited.schedule, edited.access_group) == ("Edited", "0 7 * * 1", "analysts")


BAD_INPUTS = [
    (
        {"notebook": "reports/missing.ipynb"},
        400,
        "There is no notebook 'reports/missing.ipynb' in your home (s3://demo-jupyter-notebooks/home/pg-sam/): give "
        "its path as JupyterLab's file browser shows it, and save the notebook there first.",
    ),
    (
        {"schedule": "cron", "cron": "61 * * * *"},
        400,
        "The schedule '61 * * * *' is not valid cron: the minute field has 61, outside 0-59. Write five fields, "
        "minute hour day-of-month month day-of-week, in UTC; for example '30 6 * * 1-5' runs at 06:30 UTC on "
        "weekdays.",
    ),
    (
        {"schedule": "daily", "time": "25:00"},
        400,
        "'25:00' is not a time of day: write HH:MM, 24-hour, in UTC, for example 06:30.",
    ),
    (
        {"parameters": "{days: 7}"},
        400,
        "The parameters are not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2): "
        'write a JSON object, for example {"region": "eu-west-1", "days": 7}.',
    ),
    (
        {"parameters": '{"days": NaN}'},
        400,
        "The parameters contain NaN, which is not JSON: use a number or null instead.",
    ),
    (
        {"access_group": "platform-admins"},  # a role he is not eligible for, posted by hand
        400,
        "You are not eligible for the role of access group 'platform-admins': choose one of Analysts (analysts), "
        "Data Engineers (data-engineers).",
    ),
    (
        {"name": "Daily sales"},  # the name of the job the first test scheduled
        409,
        "You already have a job named 'Daily sales': choose another name, or edit that job.",
    ),
]


@pytest.mark.parametrize(("changes", "status", "message"), BAD_INPUTS)
def test_a_bad_input_is_said_on_the_page_with_the_form_kept_and_nothing_stored(hub, changes, status, message):
    before = jobs_of(hub, SAM)
    if changes.get("name") == "Daily sales" and not any(j.name == "Daily sales" for j in before):
        create(hub, SAM)
        before = jobs_of(hub, SAM)
    values = new_job_form(**{"name": "Bad input", **changes})
    response = post(hub, SAM, "/new", values, form_page="/new")
    assert response.status_code == status
    assert re.search(r'<div class="alert alert-danger" role="alert" id="form-error">(.*?)</div>', response.text)
    error = re.search(r'id="form-error">(.*?)</div>', response.text).group(1)
    assert unescape(error) == message
    # what was typed is still in the form
    assert f'value="{values["name"]}"' in response.text
    assert f'value="{values["notebook"]}"' in response.text
    assert unescape(re.search(r'id="parameters"[^>]*>(.*?)</textarea>', response.text).group(1)) == values["parameters"]
    assert jobs_of(hub, SAM) == before, "nothing stored"


def test_a_form_without_its_xsrf_token_is_refused_and_nothing_stored(hub):
    before = jobs_of(hub, SAM)
    get(hub, SAM)  # signed in to the page
    for data in (new_job_form(name="Forged"), {**new_job_form(name="Forged"), "_xsrf": "forged"}):
        response = hub.sessions[SAM].post(f"{hub.url}{JOBS}/new", data=data, allow_redirects=False, timeout=60)
        assert response.status_code == 403
        assert XSRF_REFUSED in text(response.text)
    assert jobs_of(hub, SAM) == before


def test_sam_deletes_his_job_after_a_confirmation(hub):
    job = create(hub, SAM, name="To delete")
    confirmation = get(hub, SAM, f"/{job.id}/delete")
    assert "Delete the job To delete?" in text(confirmation.text)
    assert hub.store.job(job.id) is not None, "asking is not deleting"
    response = post(hub, SAM, f"/{job.id}/delete", form_page=f"/{job.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == f"{JOBS}?done=deleted"
    assert hub.store.job(job.id) is None


# ---- Run now, pause, run again -----------------------------------------------------------------------------------


def test_run_now_with_airflow_not_answering_says_so_and_keeps_the_request_queued(hub):
    job = create(hub, SAM, name="Run me")
    response = post(hub, SAM, f"/{job.id}/run", form_page=f"/{job.id}")
    assert response.status_code == 503
    assert f"Airflow, which runs the jobs, did not answer. {STILL_QUEUED}" in text(response.text)
    runs = hub.store.runs(job.id)
    assert [(r.state, r.requested_by, bool(r.request_id), r.started_at) for r in runs] == [(QUEUED, SAM, True, None)]
    assert "waiting to start" in text(get(hub, SAM, f"/{job.id}").text)


def test_paused_jobs_do_not_run_and_resume(hub):
    job = create(hub, SAM, name="Pause me")
    assert (
        post(hub, SAM, f"/{job.id}/pause", form_page=f"/{job.id}").headers["Location"] == f"{JOBS}/{job.id}?done=paused"
    )
    assert hub.store.job(job.id).paused
    refused = post(hub, SAM, f"/{job.id}/run", form_page=f"/{job.id}")
    assert refused.status_code == 409
    assert "The job 'Pause me' is paused: resume it to run it." in text(refused.text)
    assert hub.store.runs(job.id) == []
    post(hub, SAM, f"/{job.id}/resume", form_page=f"/{job.id}")
    assert not hub.store.job(job.id).paused


def test_a_finished_run_links_to_its_outputs_and_runs_again_exactly(hub):
    job = create(hub, SAM, name="Ran before")
    store = hub.store
    run = store.request_run(job.id, requested_by=SAM)
    store.claim_request(job.id, run.request_id, "requested__x")
    store.started(run.id, token_id="1", token_hash="h", notebook_version="v-one", parameters={"days": 7})
    store.finish(run.id, state=SUCCESS, reason=None, notebook_version="v-one")
    html = get(hub, SAM, f"/{job.id}").text
    assert f'href="/user/{SAM}/lab/tree/runs/{job.id}/{run.id}/output.ipynb"' in html
    assert f'href="/user/{SAM}/lab/tree/runs/{job.id}/{run.id}/run.log"' in html
    response = post(hub, SAM, f"/{job.id}/runs/{run.id}/again", form_page=f"/{job.id}")
    assert response.status_code == 503  # Airflow does not answer here: the request stays queued
    again = store.runs(job.id)[0]
    assert (again.state, again.notebook_version, again.parameters) == (QUEUED, "v-one", {"days": 7})


# ---- isolation and hub admins --------------------------------------------------------------------------------------


def test_another_persons_job_is_not_listed_viewable_runnable_pausable_or_editable(hub):
    job = create(hub, SAM, name="Sam's secret report", parameters='{"secret": "s3://sam-only"}')
    assert "Sam's secret report" not in get(hub, ANA).text
    not_found = f"There is no job '{job.id}' among your scheduled runs."
    for method, path in [
        ("GET", ""),
        ("GET", "/edit"),
        ("GET", "/delete"),
        ("POST", "/run"),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/edit"),
        ("POST", "/delete"),
    ]:
        if method == "GET":
            response = get(hub, ANA, f"/{job.id}{path}")
        else:
            response = post(hub, ANA, f"/{job.id}{path}", new_job_form(name="Taken over", notebook="mine.ipynb"))
        assert response.status_code == 404, (method, path)
        page = text(response.text)
        assert not_found in page and "sam-only" not in page and "Sam's secret" not in page
    assert hub.store.job(job.id) == job, "unchanged"
    assert hub.store.runs(job.id) == []


def test_another_persons_run_cannot_be_run_again(hub):
    job = create(hub, SAM, name="Sam's run")
    run = hub.store.request_run(job.id, requested_by=SAM)
    ana_job = jobs_of(hub, ANA)[0] if jobs_of(hub, ANA) else create(hub, ANA, name="Ana's", notebook="mine.ipynb")
    response = post(hub, ANA, f"/{ana_job.id}/runs/{run.id}/again")
    assert response.status_code == 404
    assert f"The job {ana_job.name!r} has no run {run.id!r}." in text(response.text)
    assert len(hub.store.runs(job.id)) == 1 and hub.store.runs(ana_job.id) == []


def test_a_hub_admin_sees_every_job_and_may_pause_but_not_edit_run_or_delete(hub):
    job = create(hub, SAM, name="Watched by admins")
    listing = text(get(hub, ALEX).text)
    assert "Everyone else's jobs (you see them as a hub admin)" in listing
    assert f"Watched by admins {SAM} reports/daily.ipynb" in listing
    page = get(hub, ALEX, f"/{job.id}")
    assert page.status_code == 200
    words = text(page.text)
    assert f"{SAM}'s job, which you see as a hub admin." in words and "Pause" in words
    assert not any(control in words for control in ("Run now", "Edit", "Delete"))

    assert post(hub, ALEX, f"/{job.id}/pause", form_page=f"/{job.id}").status_code == 302
    assert hub.store.job(job.id).paused
    assert post(hub, ALEX, f"/{job.id}/resume", form_page=f"/{job.id}").status_code == 302
    assert not hub.store.job(job.id).paused

    owner_only = (
        f"Only {SAM} may edit, run or delete the job 'Watched by admins'. Hub admins may pause and resume anyone's "
        "job, nothing more."
    )
    for method, path in [
        ("GET", "/edit"),
        ("GET", "/delete"),
        ("POST", "/run"),
        ("POST", "/edit"),
        ("POST", "/delete"),
    ]:
        if method == "GET":
            response = get(hub, ALEX, f"/{job.id}{path}")
        else:
            response = post(
                hub, ALEX, f"/{job.id}{path}", new_job_form(name="Changed by admin"), form_page=f"/{job.id}"
            )
        assert response.status_code == 403, (method, path)
        assert owner_only in text(response.text)
    assert editable(hub.store.job(job.id)) == editable(job), "not edited, not deleted"
    assert hub.store.runs(job.id) == [], "not run"


def test_without_signing_in_the_hub_asks_for_sign_in(hub):
    response = requests.get(f"{hub.url}{JOBS}", timeout=30)
    assert response.status_code == 200 and "/hub/login" in response.url
