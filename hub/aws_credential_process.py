#!/usr/bin/env python3
"""AWS ``credential_process`` helper: fetches the person's AWS credentials from the hub's credential broker.

Standard library only, one file, Python 3.8 or later on Linux, macOS and Windows. Three ways to run it:

In a notebook server (the AWS config the hub gives each server runs ``python3 -I <this file>``). Reads from the
environment:

- ``JUPYTERHUB_AWS_BROKER_URL``: the broker's base URL (set by the hub's spawn hook)
- ``JUPYTERHUB_API_TOKEN``: the server's own hub token (set by JupyterHub), which identifies the person
- ``JUPYTERHUB_SERVER_NAME``: the server's name (empty for the default server)
- ``JUPYTERHUB_AWS_BROKER_TIMEOUT``: seconds to wait for the broker (default 10)

On a laptop, as the AWS profile made by the hub's page "Use AWS from your laptop" runs it::

    python3 aws_credential_process.py --broker-url URL --token-file PATH

The token file holds a laptop token of the hub (made on that page: it can do nothing but fetch its owner's
credentials for one role, and it expires). ``~`` in PATH means the person's home folder.

To store that token, once (the page shows this command)::

    python3 aws_credential_process.py store-token --token-file PATH

reads the token from standard input (without showing it when typed or pasted in a terminal) and writes PATH, creating
its folder. On Linux and macOS the file is readable only by its owner (created with mode 0600, then renamed over any
earlier one, so it is never readable by others, not even briefly). On Windows the file inherits the access control
list of its folder: keep it under your user profile (``C:\\Users\\<you>\\...``, the page's default), which only you and
administrators can read.

On success prints exactly the credential_process JSON (Version 1, AccessKeyId, SecretAccessKey, SessionToken,
Expiration) and exits 0. On failure prints one line with the reason to stderr (the SDK shows it) and exits 1,
within about the timeout when the broker is down.
"""

import argparse
import getpass
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROGRAM = "jupyterhub-aws-credentials"
FIELDS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
# How the laptop mode introduces itself to the broker (hub/broker/contract.py: CLIENT_HEADER, LAPTOP_CLIENT), so that
# the refusal of a token the hub no longer knows says what to do on a laptop.
CLIENT_HEADER = "X-AWS-Credentials-Client"
LAPTOP_CLIENT = "laptop"
PAGE = 'the hub\'s page "Use AWS from your laptop"'


class HelperError(Exception):
    pass


def request_url(base: str, server_name: str = "") -> str:
    url = base.rstrip("/") + "/v1/credentials"
    if server_name:
        url += "?" + urllib.parse.urlencode({"server": server_name})
    return url


def _timeout(environ) -> float:
    try:
        return float(environ.get("JUPYTERHUB_AWS_BROKER_TIMEOUT", "10"))
    except ValueError:
        return 10.0


def fetch(environ) -> dict:
    """In a notebook server: the server's own token and broker, from the environment."""
    base = environ.get("JUPYTERHUB_AWS_BROKER_URL", "").strip()
    token = environ.get("JUPYTERHUB_API_TOKEN", "").strip()
    if not base or not token:
        missing = "JUPYTERHUB_AWS_BROKER_URL" if not base else "JUPYTERHUB_API_TOKEN"
        raise HelperError(f"{missing} is not set: AWS credentials come from the hub, inside a server it started")
    url = request_url(base, environ.get("JUPYTERHUB_SERVER_NAME", ""))
    return ask_broker(url, base, token, {}, _timeout(environ))


def read_token(path: Path) -> str:
    """The laptop token stored in ``path``, or what to do when there is none."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise HelperError(
            f"the token file {path} does not exist: make a token on {PAGE} and store it with the command shown there"
        ) from None
    except OSError as e:
        raise HelperError(
            f"the token file {path} cannot be read ({e.strerror or type(e).__name__}): check that it is yours and "
            f"readable by you, or make a new token on {PAGE} and store it again"
        ) from None
    if not token:
        raise HelperError(f"the token file {path} is empty: make a token on {PAGE} and store it again")
    return token


def fetch_for_laptop(broker_url: str, token_file: str, environ) -> dict:
    token = read_token(Path(token_file).expanduser())
    headers = {CLIENT_HEADER: LAPTOP_CLIENT}
    return ask_broker(request_url(broker_url), broker_url, token, headers, _timeout(environ))


def ask_broker(url: str, base: str, token: str, headers: dict, timeout: float) -> dict:
    headers = {"Authorization": f"token {token}", "Accept": "application/json", **headers}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the broker's URL, http(s)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL set by the hub
            body = response.read()
    except urllib.error.HTTPError as e:
        raise HelperError(_reason(e)) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        why = getattr(e, "reason", None) or e
        raise HelperError(
            f"the hub's credential broker at {base} could not be reached ({why}); try again in a minute, and if it "
            "persists tell your administrator"
        ) from None
    try:
        answer = json.loads(body)
        result = {field: answer[field] for field in FIELDS}
    except (ValueError, KeyError, TypeError):
        raise HelperError("the credential broker sent an incomplete answer; tell your administrator") from None
    if result["Version"] != 1 or not all(isinstance(result[f], str) and result[f] for f in FIELDS[1:]):
        raise HelperError("the credential broker sent an incomplete answer; tell your administrator")
    return result


def _reason(error) -> str:
    try:
        message = json.loads(error.read())["message"]
    except (ValueError, KeyError, TypeError, OSError):
        message = f"the credential broker answered HTTP {error.code}"
    return str(message)


def store_token(token_file: str, stdin) -> Path:
    """Write the token read from ``stdin`` to ``token_file``, readable only by its owner (see the module's text)."""
    if stdin.isatty():
        token = getpass.getpass("Paste your hub token (it is not shown), then press Enter: ")
    else:
        token = stdin.readline()
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise HelperError(f"no token was given: copy the token from {PAGE} and paste it when asked")
    path = Path(token_file).expanduser()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600 (POSIX), O_EXCL under a fresh name; the rename replaces any earlier
        # token at once, so the path never holds a half-written or more widely readable file.
        descriptor, temporary = tempfile.mkstemp(dir=str(path.parent), prefix=".token-")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as f:
                f.write(token + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, str(path))
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as e:
        raise HelperError(f"the token could not be stored in {path} ({e.strerror or type(e).__name__})") from None
    return path


def _arguments(argv):
    parser = argparse.ArgumentParser(
        prog="aws_credential_process.py",
        description="AWS credential_process helper of the hub: prints the person's AWS credentials.",
    )
    parser.add_argument("action", nargs="?", choices=["store-token"], help="store a laptop token read from stdin")
    parser.add_argument("--broker-url", help="the hub's credential broker, as a laptop reaches it")
    parser.add_argument("--token-file", help="the file holding the laptop token")
    args = parser.parse_args(argv)
    if args.action == "store-token" and not args.token_file:
        parser.error("store-token needs --token-file PATH")
    if args.action is None and bool(args.broker_url) != bool(args.token_file):
        parser.error("on a laptop give both --broker-url and --token-file; in a notebook server give neither")
    return args


def main(argv=None, environ=None, stdout=None, stderr=None, stdin=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = _arguments(argv)
    try:
        if args.action == "store-token":
            path = store_token(args.token_file, stdin or sys.stdin)
            print(f"Stored the token in {path}, readable only by you.", file=stdout)
            return 0
        if args.broker_url:
            credentials = fetch_for_laptop(args.broker_url, args.token_file, environ)
        else:
            credentials = fetch(environ)
    except HelperError as e:
        print(f"{PROGRAM}: {e}", file=stderr)
        return 1
    stdout.write(json.dumps(credentials))
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
