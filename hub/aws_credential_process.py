#!/usr/bin/env python3
"""AWS ``credential_process`` helper: fetches this notebook server's AWS credentials from the hub's broker.

The AWS config the hub gives each server runs it (``credential_process = python3 -I <this file>``); every AWS SDK
and the AWS CLI then get short-lived credentials for the person's role, and fetch new ones before they expire.

Standard library only, so it works in any user image with Python 3.8 or later. Reads from the environment:

- ``JUPYTERHUB_AWS_BROKER_URL``: the broker's base URL (set by the hub's spawn hook)
- ``JUPYTERHUB_API_TOKEN``: the server's own hub token (set by JupyterHub), which identifies the person
- ``JUPYTERHUB_SERVER_NAME``: the server's name (empty for the default server)
- ``JUPYTERHUB_AWS_BROKER_TIMEOUT``: seconds to wait for the broker (default 10)

On success prints exactly the credential_process JSON (Version 1, AccessKeyId, SecretAccessKey, SessionToken,
Expiration) and exits 0. On failure prints one line with the reason to stderr (the SDK shows it) and exits 1,
within about the timeout when the broker is down.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

PROGRAM = "jupyterhub-aws-credentials"
FIELDS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


class HelperError(Exception):
    pass


def request_url(base: str, server_name: str) -> str:
    url = base.rstrip("/") + "/v1/credentials"
    if server_name:
        url += "?" + urllib.parse.urlencode({"server": server_name})
    return url


def fetch(environ) -> dict:
    base = environ.get("JUPYTERHUB_AWS_BROKER_URL", "").strip()
    token = environ.get("JUPYTERHUB_API_TOKEN", "").strip()
    if not base or not token:
        missing = "JUPYTERHUB_AWS_BROKER_URL" if not base else "JUPYTERHUB_API_TOKEN"
        raise HelperError(f"{missing} is not set: AWS credentials come from the hub, inside a server it started")
    try:
        timeout = float(environ.get("JUPYTERHUB_AWS_BROKER_TIMEOUT", "10"))
    except ValueError:
        timeout = 10.0
    url = request_url(base, environ.get("JUPYTERHUB_SERVER_NAME", ""))
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}", "Accept": "application/json"})  # noqa: S310
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


def main(environ=None, stdout=None, stderr=None) -> int:
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        credentials = fetch(environ)
    except HelperError as e:
        print(f"{PROGRAM}: {e}", file=stderr)
        return 1
    stdout.write(json.dumps(credentials))
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
