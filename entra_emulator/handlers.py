"""What every endpoint shares: request counting, the delay control, and refusals in the service's own format.

No answer ever carries a stack trace; an unexpected failure is logged here and the client gets a plain 500.
"""

import asyncio
import json
import logging

from tornado import web

from .emulator import Emulator
from .errors import GraphError, OAuthError, tenant_not_found

log = logging.getLogger("entra_emulator")


def log_request(handler: web.RequestHandler) -> None:
    """Access log without query strings (they carry states, nonces and paging tokens)."""
    status = handler.get_status()
    level = logging.INFO if status < 500 else logging.ERROR
    log.log(
        level,
        "%d %s %s %.1fms",
        status,
        handler.request.method,
        handler.request.path,
        handler.request.request_time() * 1000,
    )


class Refusal(web.HTTPError):
    """A plain refusal (test controls, unknown paths): a status and a message for the client."""

    def __init__(self, status: int, description: str, error: str = "invalid_request"):
        super().__init__(status)
        self.error, self.description = error, description


class EmulatorHandler(web.RequestHandler):
    endpoint = ""  # name for the stats and delay controls; "" for controls themselves

    def initialize(self, emulator: Emulator):
        self.emulator = emulator

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store, no-cache")
        self.set_header("Pragma", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def prepare(self):
        if not self.endpoint:
            return
        self.emulator.requests[self.endpoint] += 1
        delay = self.emulator.delays.get(self.endpoint)
        if delay:
            await asyncio.sleep(delay)

    def check_tenant(self, tenant: str) -> None:
        if tenant.lower() != self.emulator.tenant_id:
            raise tenant_not_found(tenant)

    def write_json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data))

    def request_json(self) -> dict:
        """The request body as a JSON object; an empty body is an empty object."""
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError:
            raise Refusal(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refusal(400, "the body must be a JSON object")
        return data

    # ---- refusals ----

    def log_exception(self, typ, value, tb):
        if isinstance(value, OAuthError | GraphError):
            log.info("refused %s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, OAuthError | GraphError):
            self.write_json(error.body(self.request.headers.get("client-request-id")), error.status)
        elif isinstance(error, Refusal):
            self.write_json({"error": error.error, "error_description": error.description}, status_code)
        else:
            error_code = "server_error" if status_code >= 500 else "invalid_request"
            self.write_json({"error": error_code, "error_description": self._reason}, status_code)


class NotFoundHandler(EmulatorHandler):
    """Anything else: 404 in JSON, without echoing the path back."""

    def prepare(self):
        raise Refusal(404, "no such endpoint in the emulated Entra ID or Microsoft Graph", error="not_found")
