"""The credential_process helper, run as the AWS SDK runs it (a subprocess, isolated mode, standard library only)."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


def run(env):
    return subprocess.run(
        [sys.executable, "-I", str(HELPER_PATH)], env=env, capture_output=True, text=True, timeout=60, check=False
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
