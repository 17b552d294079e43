"""Scheduled runs in a real browser, against the running local stack (`make demo`, with Airflow, on free ports).

sam has a notebook in his S3 home (put there as his JupyterLab would: a parameters cell, a cell asking AWS who runs
it). He signs in, starts his server, opens "Scheduled runs" from the hub's home page, schedules the notebook daily
with the Data Engineers role and a parameter, runs it now, follows the run on the page until it has succeeded, and
opens the executed notebook in his JupyterLab: its output names the job's session and his role. Screenshots of each
step go to test-output/e2e/ (``scheduled-runs-*``).

A job created a moment ago may not be in Airflow yet when "Run now" is pressed (its DAG processor reads the job list
every few seconds): the page then says so and keeps the request, which the broker sends again. Both answers are
accepted; the run must succeed either way.
"""

import json
import re
import time

import boto3
import nbformat
import pytest

from hub.broker.contract import SERVICE_PREFIX
from hub.jobs.airflow_api import STILL_QUEUED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900), pytest.mark.usefixtures("chromium")]

BUCKET = "demo-jupyter-notebooks"
NOTEBOOK = "reports/morning.ipynb"
JOBS_PAGE = f"{SERVICE_PREFIX}jobs"
ROLE_ARN_PREFIX = "arn:aws:sts::123456789012:assumed-role/jupyterhub-data-engineer/"
RUN_TIMEOUT_SECONDS = 300
NOT_LOADED_YET = (
    f"Airflow has not loaded this job yet (new and changed jobs reach it within a minute or two). {STILL_QUEUED}"
)


def sams_notebook() -> bytes:
    cells = [
        nbformat.v4.new_code_cell('greeting = "from the notebook"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import boto3\n"
            'print("caller:", boto3.client("sts").get_caller_identity()["Arn"])\n'
            'print("greeting:", greeting)'
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(notebook).encode()


def sign_in(page, stack, who: str) -> None:
    page.get_by_role("button", name="Sign in with Microsoft Entra ID").click()
    page.get_by_label("Email or username").fill(f"{who}@contoso.example")
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()


def test_sam_schedules_a_notebook_runs_it_now_and_opens_the_executed_notebook(demo_stack, new_page, screenshots):
    stack, page = demo_stack, new_page()
    s3 = boto3.client(
        "s3", endpoint_url=stack.moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    s3.put_object(Bucket=BUCKET, Key=f"home/sam/{NOTEBOOK}", Body=sams_notebook())

    # sam signs in and starts his server (two roles: he picks one), so that he can open the run's output later.
    page.goto(stack.hub_url)
    sign_in(page, stack, "sam")
    page.wait_for_url("**/hub/spawn**")
    page.get_by_label("AWS role for this server").select_option(label="Data Engineers")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/user/sam/lab**", timeout=120_000)
    page.locator(".jp-Launcher").wait_for(timeout=60_000)

    # From the hub's home page to "Scheduled runs".
    page.goto(f"{stack.hub_url}/hub/home")
    page.locator("#jobs-page-link").click()
    page.wait_for_url(f"**{JOBS_PAGE}")
    assert "You have no scheduled notebooks yet." in page.locator("main").inner_text()
    screenshots(page, "scheduled-runs-01-empty")

    # Schedule the notebook: daily at 06:00 UTC, the Data Engineers role, one parameter.
    page.locator("#new-job").click()
    page.wait_for_url(f"**{JOBS_PAGE}/new")
    offered = page.locator("#your-notebooks option").evaluate_all("options => options.map(o => o.value)")
    assert NOTEBOOK in offered, offered
    page.get_by_label("Name", exact=True).fill("Morning report")
    page.get_by_label("Notebook", exact=True).fill(NOTEBOOK)
    page.get_by_label("Repeat").select_option("daily")
    page.locator("#time").fill("06:00")
    page.get_by_label("AWS role for the runs").select_option(label="Data Engineers")
    page.locator("#parameters").fill('{"greeting": "from the page"}')
    screenshots(page, "scheduled-runs-02-new-job", full_page=True)
    page.locator("#save").click()
    page.wait_for_url(re.compile(rf".*{JOBS_PAGE}/[a-z0-9]{{10}}\?done=created$"))
    job_id = re.search(rf"{JOBS_PAGE}/([a-z0-9]{{10}})", page.url).group(1)
    assert page.locator("#notice").inner_text() == "The job is scheduled."
    details = page.locator("#job-details").inner_text()
    assert "Every day at 06:00 UTC" in details and "Data Engineers" in details
    screenshots(page, "scheduled-runs-03-job-scheduled", full_page=True)

    # Run now: Airflow starts it, or (the job is seconds old) the request is kept and sent again.
    page.locator("#run-now").click()
    page.wait_for_url(re.compile(rf".*{JOBS_PAGE}/{job_id}(/run|\?done=requested)$"))
    if page.url.endswith("?done=requested"):
        assert page.locator("#notice").inner_text() == (
            "Run requested: Airflow starts it in a few seconds. Reload this page to follow it."
        )
    else:
        assert page.locator("#problem").inner_text() == NOT_LOADED_YET
    screenshots(page, "scheduled-runs-04-run-requested", full_page=True)

    # Follow the run on the page until it has ended. (Airflow may also start the schedule's latest tick, from before
    # the job existed; the broker refuses that one, and the page lists it with the reason.)
    job_url = f"{stack.hub_url}{JOBS_PAGE}/{job_id}"
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        page.goto(job_url)
        run = page.locator(".run", has_text="asked for by sam").first
        state = run.locator(".run-state").inner_text()
        if state in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert state == "succeeded", f"the run is {state!r}: {run.locator('.run-reason').all_inner_texts()}"
    screenshots(page, "scheduled-runs-05-run-succeeded", full_page=True)
    run_id = run.get_attribute("id").removeprefix("run-")

    # The executed notebook and its log are in sam's home, in S3.
    prefix = f"home/sam/runs/{job_id}/{run_id}/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"])
    assert keys == [f"{prefix}output.ipynb", f"{prefix}run.log"]
    executed = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}output.ipynb")["Body"].read())
    printed = "".join(
        "".join(output.get("text", "")) for cell in executed["cells"] for output in cell.get("outputs", [])
    )
    assert f"caller: {ROLE_ARN_PREFIX}sam-job-{job_id}" in printed
    assert "greeting: from the page" in printed

    # He opens it from the page: his JupyterLab shows the executed notebook with its outputs.
    run.locator(".run-output").click()
    page.wait_for_url(f"**/user/sam/lab/tree/runs/{job_id}/{run_id}/output.ipynb")
    page.locator(f".jp-OutputArea-output:has-text('{ROLE_ARN_PREFIX}sam-job-{job_id}')").wait_for(timeout=120_000)
    page.locator(".jp-OutputArea-output:has-text('greeting: from the page')").wait_for()
    screenshots(page, "scheduled-runs-06-executed-notebook-in-jupyterlab")
