"""AWS from a laptop (issue 14 §1) with the real pieces: a real JupyterHub and its broker, the hub's page making the
token, the credential helper storing it, and the AWS CLI (its own virtualenv) running the profile the page wrote, with
no server running. Every refusal is shown by the CLI in words, and nothing is issued for it (audit line, metric, STS).

The page's profile points at the helper by full path under the "laptop's" home folder, a temporary folder here.
"""

import html
import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.fixtures.jupyterhub import person, sign_in_through_entra, start_hub, stop_hub
from tests.fixtures.tools import missing_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AWS_CLI = REPO / ".venv-awscli" / "bin" / "aws"
PAGE = "/hub/aws-laptop"
NEW_TOKEN = 'Create a new token on the hub\'s page "Use AWS from your laptop" (linked from the home page).'
INVALID_LAPTOP_TOKEN = (
    "This hub token is not valid (any more): it expired, it was revoked on the hub's token page, or you may no longer "
    f"use the hub (for example because you were removed from the Entra ID groups that grant access). {NEW_TOKEN}"
)
LAPTOP_ACCESS_OFF = (
    "AWS access from a laptop is turned off for the role Data Engineers (access group 'data-engineers'): use it "
    "inside a notebook server on the hub. Your administrator decides this (laptop_access in the access policy)."
)


@pytest.fixture(scope="module")
def hub(hub_moto, tmp_path_factory):
    """A hub of its own whose access policy turns laptop access off for data-engineers (the file is re-read)."""
    if not AWS_CLI.exists():
        missing_tool("the AWS CLI (.venv-awscli)", "run `make awscli-venv`")
    hub = start_hub(tmp_path_factory.mktemp("laptop-hub"), hub_moto, extra_env={"HUB_TEST_AUTH_REFRESH_AGE": "1"})
    policy_path = hub.state / "access-policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    next(g for g in policy["access_groups"] if g["name"] == "data-engineers")["laptop_access"] = False
    policy_path.write_text(yaml.safe_dump(policy))
    yield hub
    stop_hub(hub)


class Laptop:
    """A laptop: a home folder, the helper and AWS config the page said to make, and the AWS CLI."""

    def __init__(self, hub, home: Path):
        self.hub, self.home = hub, home

    def env(self) -> dict:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "AWS_CONFIG_FILE": str(self.home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / ".aws" / "credentials"),
            "AWS_ENDPOINT_URL": self.hub.moto,  # STS GetCallerIdentity itself goes to the moto server
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run(self, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            shlex.split(command), env=self.env(), input=stdin, capture_output=True, text=True, timeout=90
        )

    def aws(self, profile: str) -> subprocess.CompletedProcess:
        return self.run(f"{AWS_CLI} sts get-caller-identity --output json --profile {profile}")

    def add_profile(self, text: str) -> None:
        config = self.home / ".aws" / "config"
        config.parent.mkdir(parents=True, exist_ok=True)
        with config.open("a") as f:
            f.write(text + "\n")


def made(page: requests.Response) -> dict:
    """What the page shows once a token is made (HTML-unescaped)."""
    found = {
        key: re.search(rf'id="{key}"><code>(.*?)</code>', page.text, re.S)
        for key in ("laptop-token", "store-command", "aws-profile", "check-command")
    }
    assert all(found.values()), page.text[-3000:]
    values = {key: html.unescape(match.group(1)) for key, match in found.items()}
    values["helper-url"] = html.unescape(re.search(r'href="([^"]+)" id="helper-download"', page.text).group(1))
    return values


def make_token(hub, browser, **form) -> requests.Response:
    data = {"_xsrf": browser.cookies.get("_xsrf", ""), **form}
    return browser.post(f"{hub.url}{PAGE}", data=data, timeout=30)


def issued_total(hub) -> float:
    metrics = requests.get(
        f"{hub.broker_url()}metrics", headers={"Authorization": f"token {hub.admin_token}"}, timeout=30
    ).text
    return sum(float(v) for v in re.findall(r"^aws_broker_credentials_issued_total\{[^}]*\} (\S+)$", metrics, re.M))


def api_token(hub, name: str, **body) -> tuple[str, str]:
    created = hub.api_request("POST", f"/users/{name}/tokens", json=body)
    assert created.status_code == 201, created.text
    return created.json()["token"], created.json()["id"]


def profile_for(laptop: Laptop, name: str, token: str, group: str = "analysts") -> str:
    """A profile like the page's, for a token made elsewhere (the API, the token page), stored by the helper."""
    helper = laptop.home / ".aws" / "jupyterhub" / "aws_credential_process.py"
    token_file = laptop.home / ".aws" / "jupyterhub" / f"{name}.token"
    assert laptop.run(f"python3 {helper} store-token --token-file {token_file}", stdin=token).returncode == 0
    laptop.add_profile(
        f"[profile {name}]\ncredential_process = python3 {helper} --broker-url {laptop.hub.broker_url()} "
        f"--token-file {token_file}\nregion = us-east-1\n"
    )
    return name


def assert_refused_by_the_cli(laptop: Laptop, profile: str, message: str, who: str) -> None:
    hub = laptop.hub
    log_before, issued_before, calls_before = len(hub.log()), issued_total(hub), len(hub.sts.assume_role_calls())
    cli = laptop.aws(profile)
    assert cli.returncode != 0 and cli.stdout == ""
    assert f"jupyterhub-aws-credentials: {message}" in cli.stderr, cli.stderr
    assert f"issued user={who} " not in hub.log()[log_before:]
    assert issued_total(hub) == issued_before
    assert len(hub.sts.assume_role_calls()) == calls_before


def test_the_aws_cli_on_a_laptop_gets_the_persons_session_with_no_server_running(hub, tmp_path):
    hub.add_people({"lia": person("analysts", "data-engineers")})
    browser = hub.login("lia")
    form = browser.get(f"{hub.url}{PAGE}", timeout=30)
    assert form.status_code == 200
    # Only the role whose group allows laptops is offered (so she is not asked); the other is named as turned off.
    assert '<input type="hidden" name="access_group" value="analysts">' in form.text
    assert "Your AWS role: <strong>Analysts</strong>." in form.text
    assert 'id="roles-off">Not available from a laptop (turned off by your administrator):\n    Data Engineers.' in (
        form.text
    )
    assert 'name="days" min="1" max="30" value="7"' in form.text

    page = make_token(hub, browser, access_group="analysts", days="7", home=str(tmp_path))
    assert page.status_code == 200
    shown = made(page)
    token = shown["laptop-token"]
    assert token not in hub.log()  # shown once, never logged
    assert page.headers["Cache-Control"] == "no-store"
    models = hub.api_request("GET", "/users/lia/tokens").json()["api_tokens"]
    (model,) = [t for t in models if t["note"] == "aws-laptop:analysts"]
    assert sorted(model["scopes"]) == [
        "custom:aws-credentials:laptop!user=lia",
        "read:users:groups!user=lia",
        "read:users:name!user=lia",
    ]

    laptop = Laptop(hub, tmp_path)
    helper = laptop.home / ".aws" / "jupyterhub" / "aws_credential_process.py"
    helper.parent.mkdir(parents=True)
    download = browser.get(f"{hub.url}{shown['helper-url']}", timeout=30)
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    helper.write_bytes(download.content)
    assert download.content == (REPO / "hub" / "aws_credential_process.py").read_bytes()
    stored = laptop.run(shown["store-command"], stdin=token + "\n")
    assert stored.returncode == 0, stored.stderr
    laptop.add_profile(shown["aws-profile"])
    assert shown["aws-profile"] == (
        "[profile jupyterhub-analysts]\n"
        f"credential_process = python3 {helper} --broker-url {hub.url}/services/aws-credentials/ "
        f"--token-file {helper.parent}/jupyterhub-analysts.token\n"
        "region = us-east-1\n"
    )

    assert hub.user("lia")["servers"] == {}
    cli = laptop.run(shown["check-command"].replace("aws ", f"{AWS_CLI} --output json ", 1))
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/jupyterhub-analyst/lia-laptop"
    (call,) = hub.sts.assume_role_calls("lia-laptop")
    assert call["SourceIdentity"] == hub.people["lia"]["oid"]
    assert (call["Tags.member.1.Key"], call["Tags.member.1.Value"]) == ("user", "lia")
    assert json.loads(call["Policy"])["Statement"][1]["Resource"][0] == "arn:aws:s3:::demo-jupyter-notebooks/home/lia/*"
    assert re.search(
        r"issued user=lia oid=\S+ access_group=analysts role=\S+jupyterhub-analyst session=lia-laptop expires=\S+ "
        r"source=sts kind=laptop",
        hub.log(),
    )

    # Revoked on the hub's token page (its button calls the API with the person's own session), nothing more.
    revoked = browser.delete(
        f"{hub.api}/users/lia/tokens/{model['id']}", headers={"X-XSRFToken": browser.cookies["_xsrf"]}, timeout=30
    )
    assert revoked.status_code == 204
    assert_refused_by_the_cli(laptop, "jupyterhub-analysts", INVALID_LAPTOP_TOKEN, "lia")


def test_the_page_refuses_a_group_without_laptop_access_and_makes_no_token(hub, tmp_path):
    hub.add_people({"leo": person("data-engineers")})
    browser = hub.login("leo")
    form = browser.get(f"{hub.url}{PAGE}", timeout=30)
    assert 'id="no-laptop-role"' in form.text and "turned it off for\n    Data Engineers" in form.text
    for days, group, status, message in [
        ("7", "data-engineers", 403, LAPTOP_ACCESS_OFF.replace(" (access group 'data-engineers')", "")),
        ("7", "analysts", 403, "You may not use the AWS role 'analysts': it is not one of yours."),
    ]:
        page = make_token(hub, browser, access_group=group, days=days, home=str(tmp_path))
        assert page.status_code == status
        assert html.unescape(re.search(r'id="laptop-error">(.*?)</div>', page.text, re.S).group(1)) == message
    assert hub.api_request("GET", "/users/leo/tokens").json()["api_tokens"] == []


def test_the_page_refuses_a_bad_lifetime_or_home_and_makes_no_token(hub, tmp_path):
    hub.add_people({"lou": person("analysts")})
    browser = hub.login("lou")
    for days, home, message in [
        ("31", str(tmp_path), "Choose how many days the token lives: a whole number from 1 to 30."),
        ("7", "~", "Give your laptop's home folder as a full path, for example /Users/sam (macOS), /home/sam "
         "(Linux) or C:\\Users\\sam (Windows), of letters, digits, spaces and - _ . (what the AWS tools accept "
         "there)."),
    ]:  # fmt: skip
        page = make_token(hub, browser, access_group="analysts", days=days, home=home)
        assert page.status_code == 400
        assert html.unescape(re.search(r'id="laptop-error">(.*?)</div>', page.text, re.S).group(1)) == message
    # Without the hub's XSRF token the form is refused, as the hub's own forms are.
    forged = browser.post(f"{hub.url}{PAGE}", data={"access_group": "analysts", "days": "7", "home": "/x"}, timeout=30)
    assert forged.status_code == 403
    assert hub.api_request("GET", "/users/lou/tokens").json()["api_tokens"] == []


def test_every_refusal_is_shown_by_the_aws_cli_in_words_and_nothing_is_issued(hub, tmp_path):
    hub.add_people({"max": person("analysts", "data-engineers")})
    hub.login("max")
    laptop = Laptop(hub, tmp_path)
    helper = laptop.home / ".aws" / "jupyterhub" / "aws_credential_process.py"
    helper.parent.mkdir(parents=True)
    helper.write_bytes((REPO / "hub" / "aws_credential_process.py").read_bytes())
    laptop_scope = ["custom:aws-credentials:laptop!user"]
    day = 86400

    # laptop_access: false for the token's group (a token made elsewhere than the page).
    token, _ = api_token(hub, "max", scopes=laptop_scope, note="aws-laptop:data-engineers", expires_in=day)
    assert_refused_by_the_cli(laptop, profile_for(laptop, "off", token), LAPTOP_ACCESS_OFF, "max")

    # Longer than the administrator's maximum (30 days), or never expiring.
    token, _ = api_token(hub, "max", scopes=laptop_scope, note="aws-laptop:analysts", expires_in=31 * day)
    assert_refused_by_the_cli(
        laptop,
        profile_for(laptop, "long", token),
        "This laptop token is valid for 31 days, longer than the 30 days your administrator allows for a laptop "
        f"(CredentialBroker.laptop_token_max_days). {NEW_TOKEN}",
        "max",
    )
    token, _ = api_token(hub, "max", scopes=laptop_scope, note="aws-laptop:analysts")
    assert_refused_by_the_cli(
        laptop,
        profile_for(laptop, "forever", token),
        "This laptop token never expires, longer than the 30 days your administrator allows for a laptop "
        f"(CredentialBroker.laptop_token_max_days). {NEW_TOKEN}",
        "max",
    )

    # The default personal token (its owner's permissions): not for this purpose only.
    token, _ = api_token(hub, "max", expires_in=day, note="aws-laptop:analysts")
    assert_refused_by_the_cli(
        laptop,
        profile_for(laptop, "personal", token),
        "This token is not this notebook server's own token (a personal token from the hub's token page, or another "
        "server's): only a running server's own JUPYTERHUB_API_TOKEN obtains AWS credentials, for that server.",
        "max",
    )
    # The laptop scope and more.
    token, _ = api_token(
        hub, "max", scopes=[*laptop_scope, "read:servers!user"], note="aws-laptop:analysts", expires_in=day
    )
    assert_refused_by_the_cli(
        laptop,
        profile_for(laptop, "wider", token),
        "This token can do more than fetch AWS credentials for a laptop, so the broker does not serve it: a laptop's "
        f"token must be for that purpose only. {NEW_TOKEN}",
        "max",
    )

    # Expired: the hub no longer knows it.
    token, _ = api_token(hub, "max", scopes=laptop_scope, note="aws-laptop:analysts", expires_in=1)
    profile = profile_for(laptop, "expired", token)
    time.sleep(1.5)  # past its expiry
    assert_refused_by_the_cli(laptop, profile, INVALID_LAPTOP_TOKEN, "max")

    # A role no longer eligible: removed from the token's group (still in another), noticed at the next check.
    token, _ = api_token(hub, "max", scopes=laptop_scope, note="aws-laptop:analysts", expires_in=day)
    profile = profile_for(laptop, "analysts", token)
    assert laptop.aws(profile).returncode == 0
    hub.set_groups("max", "data-engineers")
    time.sleep(1.5)  # the hub re-checks membership at most every auth_refresh_age (1 s here)
    assert_refused_by_the_cli(
        laptop,
        profile,
        "You are not eligible (any more) for the role of access group 'analysts' this laptop token is for (your "
        f"roles now: Data Engineers). {NEW_TOKEN}",
        "max",
    )
    log = hub.log()
    for reason in ("laptop-access-off", "laptop-token-lifetime", "not-a-server-token", "not-purpose-only"):
        assert f"refused status=403 reason={reason} user=max " in log


def test_a_servers_issue_is_audited_as_kind_server(hub):
    hub.add_people({"stub-sid": person("analysts")})
    hub.login("stub-sid")
    assert hub.spawn("stub-sid")["ready"]
    headers = {"Authorization": f"token {hub.server_token('stub-sid')}"}
    assert requests.get(f"{hub.broker_url()}v1/credentials", headers=headers, timeout=30).status_code == 200
    assert re.search(r"issued user=stub-sid oid=\S+ access_group=analysts role=\S+ session=stub-sid expires=\S+ "
                     r"source=(sts|cache) kind=server", hub.log())  # fmt: skip
    hub.stop_server("stub-sid")


# ---- with Entra ID: no sign-in behind a laptop token, membership still followed ---------------------------------

SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"  # in no access group of the policy


def test_a_laptop_token_needs_no_entra_sign_in_but_follows_membership(entra_hub, entra_emulator_reset):
    """The owner's Entra refresh token is refused (revoked sessions, or weeks without signing in): their laptop still
    gets credentials while they are in the group, read from Graph with the hub's application token; their browser
    session is signed out as before; out of every access group, the laptop is refused saying so."""
    hub, emulator = entra_hub, entra_emulator_reset
    emulator.set_modes(token_lifetime_seconds=2)  # every membership check finds the person's Entra tokens expired
    browser = sign_in_through_entra(hub, emulator, "olga@contoso.example").browser
    token, _ = api_token(
        hub, "olga", scopes=["custom:aws-credentials:laptop!user"], note="aws-laptop:data-engineers", expires_in=3600
    )
    emulator.revoke_sessions("olga@contoso.example")
    time.sleep(2.5)  # her Entra tokens have expired, and cannot be refreshed any more

    def laptop():
        headers = {"Authorization": f"token {token}", "X-AWS-Credentials-Client": "laptop"}
        return requests.get(f"{hub.broker_url()}v1/credentials", headers=headers, timeout=30)

    log_before = len(hub.log())
    answer = laptop()
    assert answer.status_code == 200, answer.text
    arn = "arn:aws:sts::123456789012:assumed-role/jupyterhub-data-engineer/olga-laptop"
    assert hub.caller_arn(answer.json()) == arn
    assert "Signing olga out" not in hub.log()[log_before:]  # no Entra refresh was tried for the laptop

    time.sleep(1.1)  # one check interval: the browser session is re-checked as before, and signed out
    home = browser.get(f"{hub.url}/hub/home", allow_redirects=False, timeout=30)
    assert home.status_code == 302 and "/hub/login" in home.headers["Location"]
    assert "Signing olga out: tokens could not be refreshed" in hub.log()[log_before:]

    emulator.set_groups("olga@contoso.example", [SALES])
    time.sleep(1.1)
    refused = laptop()
    assert (refused.status_code, refused.json()) == (
        403,
        {
            "error": "role-not-eligible",
            "message": "You are not in any Entra ID group that grants an AWS role any more. Ask to be added to one, "
            "then sign in again.",
        },
    )
    assert "access_key" not in refused.text.lower()
