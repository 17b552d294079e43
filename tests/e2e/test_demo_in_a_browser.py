"""The demo in a real browser, against the running local stack (`make demo`, on free ports): the README walkthrough.

sam (two roles) signs in through the emulated Entra ID's login form, picks a role, gets JupyterLab, creates a
notebook and saves it from the JupyterLab UI (it lands in S3 under sam's prefix), sees the role on "What can I
access?", and signs out; alex (hub admin) looks at sam's access but cannot open sam's server; noah (in no mapped
group) is refused with the reason. Then no secret is in any log, and Ctrl-C stops everything. Each step leaves a
screenshot in test-output/e2e/.

The browser ignores TLS errors for the emulator only because its certificate authority is new at every start (a
person's browser shows a warning there once; the README says so).
"""

import json
import re
from pathlib import Path

import boto3
import pytest

from hub.broker.contract import SERVICE_PREFIX
from tests.fixtures.local_stack import listening, stop_local_stack

# Chromium first: without it (a laptop) the module skips before spending a minute starting the stack.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.usefixtures("chromium")]

BUCKET = "demo-jupyter-notebooks"
NOTEBOOK = "sam-first-notebook"
ACCESS_PAGE = f"{SERVICE_PREFIX}access"
SAM_ARN = "arn:aws:sts::123456789012:assumed-role/jupyterhub-data-engineer/sam"


def sign_in(page, stack, who: str, screenshots=None) -> None:
    """From the hub's sign-in page through the emulator's login form, as a person does."""
    page.get_by_role("button", name="Sign in with Microsoft Entra ID").click()
    page.get_by_label("Email or username").fill(f"{who}@contoso.example")
    page.get_by_label("Password").fill(stack.password)
    if screenshots:
        screenshots(page, "02-entra-id-sign-in")
    page.get_by_role("button", name="Sign in").click()


def test_sam_picks_a_role_saves_a_notebook_to_s3_sees_the_role_and_signs_out(demo_stack, new_page, screenshots):
    stack, page = demo_stack, new_page()
    page.goto(stack.hub_url)
    page.get_by_role("button", name="Sign in with Microsoft Entra ID").wait_for()
    screenshots(page, "01-hub-sign-in")
    sign_in(page, stack, "sam", screenshots)

    # Two roles: the spawn form asks which.
    page.wait_for_url("**/hub/spawn**")
    role = page.get_by_label("AWS role for this server")
    assert role.locator("option").all_inner_texts() == ["Analysts", "Data Engineers"]
    role.select_option(label="Data Engineers")
    screenshots(page, "03-sam-picks-a-role")
    page.get_by_role("button", name="Start").click()

    page.wait_for_url("**/user/sam/lab**", timeout=120_000)
    page.locator(".jp-Launcher").wait_for(timeout=60_000)
    no_news = page.get_by_role("button", name="No", exact=True)
    if no_news.count():  # JupyterLab's "notify about Jupyter news?" toast
        no_news.click()
        no_news.wait_for(state="detached")
    screenshots(page, "04-jupyterlab")

    # A new notebook from the launcher; one cell asks AWS who this server is; Ctrl-S saves it (JupyterLab asks for a
    # name on the first save).
    page.locator('.jp-LauncherCard[title="Python 3 (ipykernel)"]').first.click()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)  # the kernel has started
    page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
    page.keyboard.type('import boto3\nboto3.client("sts").get_caller_identity()["Arn"]')
    page.keyboard.press("Shift+Enter")
    page.locator(f".jp-OutputArea-output:has-text('{SAM_ARN}')").wait_for(timeout=120_000)
    page.keyboard.press("Control+s")
    name = page.locator(".jp-Dialog").get_by_role("textbox")
    name.wait_for()
    name.fill(f"{NOTEBOOK}.ipynb")
    page.get_by_role("button", name="Rename and Save").click()
    page.locator(f".jp-DirListing-itemName:has-text('{NOTEBOOK}.ipynb')").wait_for()
    page.locator(".jp-NotebookPanel-toolbar").wait_for()
    screenshots(page, "05-notebook-saved")

    # The object is in the moto bucket, under sam's own prefix, with the cell and its output (moto's authorization
    # checks are off in the local stack: any keys do).
    client = boto3.client(
        "s3", endpoint_url=stack.moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="home/")["Contents"]]
    assert f"home/sam/{NOTEBOOK}.ipynb" in keys
    assert all(k.startswith("home/sam/") for k in keys), keys
    notebook = json.loads(client.get_object(Bucket=BUCKET, Key=f"home/sam/{NOTEBOOK}.ipynb")["Body"].read())
    assert "get_caller_identity" in "".join(notebook["cells"][0]["source"])
    assert SAM_ARN in json.dumps(notebook["cells"][0]["outputs"])

    # The hub's home page links to "What can I access?", which shows the role sam's server uses.
    page.goto(f"{stack.hub_url}/hub/home")
    screenshots(page, "06-home-page")
    page.locator("#access-page-link").click()
    page.wait_for_url(f"**{ACCESS_PAGE}")
    assert page.locator("#server-role").inner_text() == "Data Engineers"
    body = page.locator("main").inner_text()
    assert f"this server acts as {SAM_ARN}" in body
    assert "s3://demo-jupyter-notebooks/home/sam/" in body
    assert re.search(r"Current AWS credentials expire at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ minutes\)", body)
    screenshots(page, "07-what-can-i-access", full_page=True)

    # Sign-out: back to the sign-in page; the hub and the access page want a new sign-in.
    page.locator("#logout").click()
    page.wait_for_url("**/hub/login**")
    screenshots(page, "08-signed-out")
    page.goto(f"{stack.hub_url}/hub/home")
    assert "/hub/login" in page.url
    page.goto(f"{stack.hub_url}{ACCESS_PAGE}")
    assert "/hub/login" in page.url


def test_alex_the_admin_sees_why_sam_has_access(demo_stack, new_page, screenshots):
    stack, page = demo_stack, new_page()
    page.goto(f"{stack.hub_url}{ACCESS_PAGE}?user=sam")  # a bookmark: the hub asks alex to sign in first
    sign_in(page, stack, "alex")
    page.wait_for_url(f"**{ACCESS_PAGE}?user=sam")
    body = page.locator("main").inner_text()
    assert "What can Sam Both access?" in body and "You are seeing this as a hub admin." in body
    assert page.locator("#server-role").inner_text() == "Data Engineers"
    screenshots(page, "09-admin-sees-sam", full_page=True)


def test_alex_the_admin_cannot_open_sams_server(demo_stack, new_page, screenshots):
    """The Admin page's "Access Server" on sam's row: the hub refuses, so alex never runs code as sam."""
    stack, page = demo_stack, new_page()
    page.goto(f"{stack.hub_url}/hub/admin")
    sign_in(page, stack, "alex")
    page.wait_for_url("**/hub/admin**")
    sams_row = page.locator("tr", has=page.get_by_text("sam", exact=True))
    sams_row.get_by_role("button", name="Access Server").click()  # sam's server runs since the first test
    page.locator("#error-message").wait_for()
    assert "/user/sam" in page.url or "/hub/api/oauth2/authorize" in page.url
    assert page.locator("#error-heading").inner_text().startswith("Access refused")
    assert page.locator("#error-message").inner_text() == "You do not have permission to access Server at /user/sam/"
    screenshots(page, "10-admin-cannot-open-sams-server")
    page.goto(f"{stack.hub_url}/user/sam/lab")  # typed by hand: the same refusal, no JupyterLab
    page.locator("#error-message").wait_for()
    assert page.locator(".jp-Launcher").count() == 0


def test_noah_in_no_mapped_group_is_refused_with_the_reason(demo_stack, new_page, screenshots):
    stack, page = demo_stack, new_page()
    page.goto(stack.hub_url)
    sign_in(page, stack, "noah")
    page.locator("#error-message").wait_for()
    assert page.locator("#error-heading").inner_text().startswith("Access refused")
    assert page.locator("#error-message").inner_text() == (
        "You have no access to this hub: you are not in any of the Entra ID groups that grant it. Ask to be added "
        "to one of: Analysts (253daff1-76ee-47b8-9495-b4b707cbf668), Data Engineers "
        "(d088b0d7-c5c7-4091-a07c-643a7be0ab53), Platform Admins (2a95bd00-d53d-4f76-87f4-0e8a179a4fd6)."
    )
    screenshots(page, "11-noah-refused")
    page.goto(f"{stack.hub_url}/hub/home")
    assert "/hub/login" in page.url, "a refused person is not signed in"


def test_no_secret_reaches_a_log_or_the_terminal(demo_stack):
    hub_pid = json.loads((demo_stack.state_dir / "ready.json").read_text())["pids"]["JupyterHub"]
    environ = Path(f"/proc/{hub_pid}/environ").read_bytes().decode().split("\0")
    env = dict(item.split("=", 1) for item in environ if "=" in item)
    secrets = {
        name: env[name]
        for name in (
            "OAUTH_CLIENT_SECRET",
            "JUPYTERHUB_CRYPT_KEY",
            "CONFIGPROXY_AUTH_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        )
    }
    logs = {path.name: path.read_text(errors="replace") for path in demo_stack.state_dir.glob("*.log")}
    logs["terminal"] = demo_stack.output()
    assert {"jupyterhub.log", "entra-emulator.log", "moto.log", "terraform.log"} <= set(logs)
    leaks = [(name, where) for name, value in secrets.items() for where, text in logs.items() if value in text]
    assert leaks == []
    assert f"Everyone's password for this run: {demo_stack.password}" in logs["terminal"]
    assert sum(text.count(demo_stack.password) for text in logs.values()) == 1, "the password is printed once"


def test_ctrl_c_stops_everything_it_started(demo_stack):
    code, alive = stop_local_stack(demo_stack.proc)
    assert alive == []
    assert code == 0
    assert demo_stack.output().rstrip().endswith("Stopped; nothing is left running.")
    assert [name for name, port in demo_stack.ports.items() if listening(port)] == []
