"""Fixtures of the end-to-end tier: the local stack as `make demo` runs it, and a real Chromium.

Screenshots of every step go to ``test-output/e2e/`` (git ignores ``test-output/``), named in the order of the
README's walkthrough.
"""

import pytest

from tests.fixtures.browser import launch_chromium
from tests.fixtures.local_stack import start_local_stack, stop_local_stack
from tests.fixtures.servers import REPO

SCREENSHOTS = REPO / "test-output" / "e2e"


@pytest.fixture(scope="session")
def local_stack_dir(tmp_path_factory):
    """One state folder for every local stack of the session: each run must cope with the one before it."""
    return tmp_path_factory.mktemp("local-stack") / "state"


@pytest.fixture(scope="module")
def demo_stack(local_stack_dir, tmp_path_factory):
    """The local stack for one module; a test may stop it itself (Ctrl-C), teardown then has nothing to do."""
    stack = start_local_stack(local_stack_dir, tmp_path_factory.mktemp("launcher") / "output.txt")
    yield stack
    if stack.proc.poll() is None:
        stop_local_stack(stack.proc)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, request):
    """A page in a fresh browser context (a person of their own); on failure each page's state is saved as
    ``test-output/e2e/failed-<test>-<n>.png``."""
    pages = request.node.e2e_pages = []

    def make():
        # The emulator's certificate authority is new at every start: the browser is told to accept it.
        context = chromium.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        pages.append(context.new_page())
        return pages[-1]

    yield make
    for page in pages:
        page.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(getattr(item, "e2e_pages", []), 1):
            try:
                page.screenshot(path=str(SCREENSHOTS / f"failed-{item.name}-{number}.png"), full_page=True)
            except Exception as e:  # noqa: BLE001 - a failed screenshot must not hide the test's own failure
                report.sections.append(("e2e screenshot", f"page {number}: {e}"))
    return report


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()

    def shoot(page, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return shoot
