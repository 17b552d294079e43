"""The tornado application: every endpoint at the path the real service uses."""

from pathlib import Path

from tornado import web

from . import controls, graph, oauth
from .emulator import Emulator
from .handlers import NotFoundHandler, log_request

TEMPLATES = str(Path(__file__).parent / "templates")


def make_app(emulator: Emulator) -> web.Application:
    routes = oauth.routes(emulator) + graph.routes(emulator)
    if emulator.test_controls:
        routes += controls.routes(emulator)
    return web.Application(
        routes,
        template_path=TEMPLATES,
        log_function=log_request,
        default_handler_class=NotFoundHandler,
        default_handler_args={"emulator": emulator},
    )
