"""A hub that dies before stopping its proxy leaves the proxy running in a session of its own (JupyterHub starts it
so); whoever started the hub stops that proxy too, found through the pid file the hub writes."""

import subprocess
import sys

import psutil
import pytest

from hub.local_stack.launcher import Child, Stack
from hub.local_stack.plan import settings_from_env
from hub.local_stack.single_machine import PROXY_PID_FILE, proxy_left_behind

pytestmark = pytest.mark.integration


def stand_in_proxy(*extra: str) -> subprocess.Popen:
    """A long-running process whose command line names configurable-http-proxy, in a session of its own."""
    code = "import time; time.sleep(120)"
    return subprocess.Popen([sys.executable, "-c", code, "configurable-http-proxy", *extra], start_new_session=True)


def test_a_dead_hubs_proxy_is_found_and_an_unrelated_pid_is_not(tmp_path):
    proxy = stand_in_proxy()
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        (tmp_path / PROXY_PID_FILE).write_text(f"{proxy.pid}\n")
        assert proxy_left_behind(tmp_path).pid == proxy.pid
        (tmp_path / PROXY_PID_FILE).write_text(f"{unrelated.pid}\n")  # a reused pid is never taken for the proxy
        assert proxy_left_behind(tmp_path) is None
        (tmp_path / PROXY_PID_FILE).unlink()  # the hub stopped its proxy and removed the file
        assert proxy_left_behind(tmp_path) is None
    finally:
        for p in (proxy, unrelated):
            p.kill()
            p.wait()


def test_the_local_stack_stops_the_proxy_of_a_hub_that_died_first(tmp_path):
    proxy = stand_in_proxy()
    try:
        hub_state = tmp_path / "hub"
        hub_state.mkdir()
        (hub_state / PROXY_PID_FILE).write_text(f"{proxy.pid}\n")
        dead_hub = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"], start_new_session=True)
        dead_hub.wait()
        stack = Stack(settings_from_env({"LOCAL_STACK_DIR": str(tmp_path)}))
        stack.children.append(Child("JupyterHub", dead_hub, tmp_path / "jupyterhub.log", hub_state=hub_state))
        assert stack.stop_all() == []
        assert not psutil.pid_exists(proxy.pid) or psutil.Process(proxy.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        proxy.kill()
        proxy.wait()
