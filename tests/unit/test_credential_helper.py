"""The credential_process helper, run as the AWS SDK runs it (a subprocess, isolated mode, standard library only)."""

import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub.broker import contract
from hub.spawn import HELPER_PATH
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.unit

GOOD = {
    "Version": 1,
    "AccessKeyId": "ASIAEXAMPLE",
    "SecretAccessKey": "secret-example",
    "SessionToken": "token-example",
    "Expiration": "2030-01-01T13:00:00Z",
}


@pytest.fixture
def broker():
    """A stand-in broker answering what ``answers[path]`` says; records what it was asked."""
    seen, answers = [], {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            answers["last_headers"] = self.headers  # case-insensitive, as HTTP header names are
            status, body = answers.get("next", (200, {**GOOD, "Extra": "ignored"}))
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/aws-credentials/", seen, answers
    server.shutdown()
    server.server_close()


def run(env, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-I", str(HELPER_PATH), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prints_only_the_credential_process_json(broker):
    url, seen, _ = broker
    result = run({"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "server-token"})
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout) == GOOD
    assert seen == [("/services/aws-credentials/v1/credentials", "token server-token")]


def test_named_server_is_sent(broker):
    url, seen, _ = broker
    env = {"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_SERVER_NAME": "gpu one"}
    assert run(env).returncode == 0
    assert seen[0][0] == "/services/aws-credentials/v1/credentials?server=gpu+one"


def test_refusal_reason_on_stderr(broker):
    url, _, answers = broker
    answers["next"] = (403, {"error": "role-not-eligible", "message": "You are no longer eligible for Analysts."})
    result = run({"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "t"})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "jupyterhub-aws-credentials: You are no longer eligible for Analysts.\n"


@pytest.mark.parametrize(
    "body", [{**GOOD, "SessionToken": ""}, {"Version": 1}, {**GOOD, "Version": 2}, b"not json", b"[]"]
)
def test_incomplete_answer_is_never_passed_on(broker, body):
    url, _, answers = broker
    answers["next"] = (200, body)
    result = run({"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "t"})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "jupyterhub-aws-credentials: the credential broker sent an incomplete answer; tell your administrator\n"
    )


def test_broker_down_fails_readably_and_quickly():
    url = f"http://127.0.0.1:{free_port()}/services/aws-credentials/"
    started = time.monotonic()
    result = run({"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "t"})
    assert time.monotonic() - started < 10
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"jupyterhub-aws-credentials: the hub's credential broker at {url} could not be ")
    assert "Connection refused" in result.stderr


def test_broker_hanging_fails_within_the_timeout():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as silent:  # accepts, never answers
        silent.RequestHandlerClass = type("Hang", (BaseHTTPRequestHandler,), {"handle": lambda self: time.sleep(2.5)})
        threading.Thread(target=silent.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{silent.server_address[1]}/"
        started = time.monotonic()
        result = run(
            {"JUPYTERHUB_AWS_BROKER_URL": url, "JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_AWS_BROKER_TIMEOUT": "1"}
        )
        elapsed = time.monotonic() - started
        silent.shutdown()
    assert result.returncode == 1 and elapsed < 4
    assert "could not be reached (timed out)" in result.stderr


def test_outside_a_server():
    result = run({})
    assert result.returncode == 1
    assert result.stderr == (
        "jupyterhub-aws-credentials: JUPYTERHUB_AWS_BROKER_URL is not set: AWS credentials come from the hub, inside "
        "a server it started\n"
    )


# ---- on a laptop ---------------------------------------------------------------------------------------------------

PAGE = 'the hub\'s page "Use AWS from your laptop"'


def test_on_a_laptop_the_token_comes_from_its_file_and_the_helper_says_it_is_a_laptop(broker, tmp_path):
    url, seen, answers = broker
    token_file = tmp_path / "hub-analysts.token"
    token_file.write_text("laptop-token\n")
    result = run({}, "--broker-url", url, "--token-file", str(token_file))
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout) == GOOD
    assert seen == [("/services/aws-credentials/v1/credentials", "token laptop-token")]
    assert answers["last_headers"][contract.CLIENT_HEADER] == contract.LAPTOP_CLIENT


def test_the_helpers_own_copy_of_the_contract_agrees_with_the_broker():
    import hub.aws_credential_process as helper

    assert (helper.CLIENT_HEADER, helper.LAPTOP_CLIENT) == (contract.CLIENT_HEADER, contract.LAPTOP_CLIENT)


def test_a_laptop_refusal_prints_the_brokers_reason(broker, tmp_path):
    url, _, answers = broker
    answers["next"] = (403, {"error": "laptop-access-off", "message": "AWS access from a laptop is turned off."})
    (tmp_path / "t").write_text("laptop-token")
    result = run({}, "--broker-url", url, "--token-file", str(tmp_path / "t"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "jupyterhub-aws-credentials: AWS access from a laptop is turned off.\n"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda path: None,
            "does not exist: make a token on {page} and store it with the command shown there",
        ),
        (
            lambda path: path.mkdir(),
            "cannot be read (Is a directory): check that it is yours and readable by you, or make a new token on "
            "{page} and store it again",
        ),
        (lambda path: path.write_text(" \n"), "is empty: make a token on {page} and store it again"),
    ],
    ids=["missing", "unreadable", "empty"],
)
def test_a_missing_or_unreadable_token_file_says_what_to_do_and_asks_nothing(broker, tmp_path, make, reason):
    url, seen, _ = broker
    path = tmp_path / "hub-analysts.token"
    make(path)
    result = run({}, "--broker-url", url, "--token-file", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"jupyterhub-aws-credentials: the token file {path} {reason.format(page=PAGE)}\n"
    assert seen == []


def test_a_tilde_in_the_token_file_is_the_home_folder(broker, tmp_path):
    url, seen, _ = broker
    (tmp_path / "t").write_text("laptop-token")
    result = run({"HOME": str(tmp_path)}, "--broker-url", url, "--token-file", "~/t")
    assert result.returncode == 0, result.stderr
    assert seen[0][1] == "token laptop-token"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker-url", "http://hub/"], "on a laptop give both --broker-url and --token-file"),
        (["--token-file", "t"], "on a laptop give both --broker-url and --token-file"),
        (["store-token"], "store-token needs --token-file PATH"),
    ],
)
def test_incomplete_arguments_are_refused_with_the_usage(args, message):
    result = run({}, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr and result.stderr.startswith("usage: aws_credential_process.py")


def test_store_token_writes_a_file_only_its_owner_can_read_creating_its_folder(tmp_path):
    path = tmp_path / "aws" / "jupyterhub" / "hub-analysts.token"
    result = run({}, "store-token", "--token-file", str(path), stdin="fresh-token\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Stored the token in {path}, readable only by you.\n"
    assert path.read_text() == "fresh-token\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(path.parent)) == ["hub-analysts.token"]  # no temporary file left


def test_store_token_replaces_an_earlier_token_and_its_wider_mode(tmp_path):
    path = tmp_path / "hub-analysts.token"
    path.write_text("old-token\n")
    path.chmod(0o644)
    result = run({}, "store-token", "--token-file", str(path), stdin="new-token")
    assert result.returncode == 0, result.stderr
    assert path.read_text() == "new-token\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("given", ["", "\n", "two words\n"])
def test_store_token_without_a_token_writes_nothing(tmp_path, given):
    path = tmp_path / "hub-analysts.token"
    result = run({}, "store-token", "--token-file", str(path), stdin=given)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"jupyterhub-aws-credentials: no token was given: copy the token from {PAGE} and paste it when asked\n"
    )
    assert not path.exists() and os.listdir(tmp_path) == []
