"""``python -m entra_emulator``: start the emulated Entra ID and Microsoft Graph over HTTPS.

Secrets come only from the environment (``ENTRA_EMULATOR_CLIENT_SECRET``, ``ENTRA_EMULATOR_PASSWORD``), never from
the command line or a file, and are never printed. When it answers, the emulator prints one line and writes
``STATE_DIR/ready`` (JSON: url, tenant_id, issuer, authority, client_id, graph_url, ca_path, pid); it removes that
file again when it stops (SIGTERM or SIGINT).
"""

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
import uuid
from pathlib import Path

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .app import make_app
from .directory import DirectoryError, load_directory
from .emulator import Emulator, Registration, valid_redirect_uri
from .keys import new_tls_material, write_ca

CLIENT_SECRET_VARIABLE = "ENTRA_EMULATOR_CLIENT_SECRET"  # noqa: S105 - the name of the variable
PASSWORD_VARIABLE = "ENTRA_EMULATOR_PASSWORD"  # noqa: S105 - the name of the variable
SHUTDOWN_GRACE_SECONDS = 5
log = logging.getLogger("entra_emulator")


class UsageError(Exception):
    """The emulator cannot start; the message says what to change."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m entra_emulator",
        description="A local Microsoft Entra ID (v2.0) and Microsoft Graph for development and tests. "
        f"Secrets come from the environment: {CLIENT_SECRET_VARIABLE} (the app's client secret) and "
        f"{PASSWORD_VARIABLE} (the password of every person in the directory).",
    )
    parser.add_argument("--directory", required=True, type=Path, help="the directory YAML (people and groups)")
    parser.add_argument("--state-dir", required=True, type=Path, help="where ca.pem and ready are written")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on; 0 picks a free one")
    parser.add_argument("--client-id", help="the app registration's client id (default: derived from the tenant)")
    parser.add_argument(
        "--redirect-uri", action="append", default=[], help="a registered redirect URI (repeat for more)"
    )
    parser.add_argument(
        "--test-controls",
        action="store_true",
        help="serve /_emulator/ controls that corrupt tokens and change the directory (tests only)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def secret_from_environment(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise UsageError(f"{variable} is not set: give it in the environment (never on the command line)")
    return value


def check_redirect_uris(uris: list[str]) -> list[str]:
    for uri in uris:
        if not valid_redirect_uri(uri):
            raise UsageError(f"--redirect-uri {uri}: must be an https URL, or http on localhost / 127.0.0.1")
    return list(dict.fromkeys(uris))


def url_host(host: str) -> str:
    """The host as it appears in URLs: a wildcard address is reached through the loopback address."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding to it
        return "127.0.0.1"
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def certificate_hosts(host: str) -> list[str]:
    hosts = ["127.0.0.1", "localhost"]
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104
        hosts.append(host)
    return hosts


def write_ready_file(state_dir: Path, info: dict) -> Path:
    """Written whole and then renamed, so a reader never sees half of it."""
    path, partial = state_dir / "ready", state_dir / ".ready.partial"
    partial.write_text(json.dumps(info, indent=2) + "\n")
    partial.replace(path)
    return path


async def serve(args: argparse.Namespace, client_secret: str, password: str) -> None:
    directory = load_directory(args.directory)
    state_dir = args.state_dir.resolve()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "ready").unlink(missing_ok=True)
    except OSError as e:
        raise UsageError(f"--state-dir {state_dir}: cannot be used ({e.strerror})") from None
    try:
        sockets = bind_sockets(args.port, args.host)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({e.strerror})") from None
    port = sockets[0].getsockname()[1]
    base_url = f"https://{url_host(args.host)}:{port}"
    tls = new_tls_material(certificate_hosts(args.host))
    ca_path = write_ca(tls, state_dir)
    client_id = args.client_id or str(uuid.uuid5(uuid.UUID(directory.tenant_id), "jupyterhub"))
    registration = Registration(client_id, client_secret, check_redirect_uris(args.redirect_uri))
    emulator = Emulator(
        directory=directory,
        registration=registration,
        password=password,
        base_url=base_url,
        test_controls=args.test_controls,
    )
    server = HTTPServer(make_app(emulator), ssl_options=tls.ssl_context())
    server.add_sockets(sockets)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    ready = {
        "url": base_url,
        "tenant_id": emulator.tenant_id,
        "issuer": emulator.issuer,
        "authority": emulator.authority,
        "client_id": client_id,
        "graph_url": emulator.graph_url,
        "ca_path": str(ca_path),
        "pid": os.getpid(),
    }
    ready_path = write_ready_file(state_dir, ready)
    if args.test_controls:
        log.warning(
            "test controls are on at %s/_emulator/: anyone who can reach this port can forge sign-ins", base_url
        )
    print(f"Entra ID emulator ready at {base_url} (tenant {emulator.tenant_id}, client {client_id})", flush=True)
    try:
        await stopping.wait()
    finally:
        ready_path.unlink(missing_ok=True)
        server.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning("some connections were still open after %ds; stopping anyway", SHUTDOWN_GRACE_SECONDS)
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s entra-emulator %(levelname)s %(message)s")
    try:
        client_secret = secret_from_environment(CLIENT_SECRET_VARIABLE)
        password = secret_from_environment(PASSWORD_VARIABLE)
        asyncio.run(serve(args, client_secret, password))
    except (UsageError, DirectoryError) as e:
        print(f"entra_emulator cannot start: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
