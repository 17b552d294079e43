"""The single-machine hub (local stack, tests) passes each secret only to the processes that need it (issue 11, 4)."""

from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

HUB_SECRETS = ("OAUTH_CLIENT_SECRET", "JUPYTERHUB_CRYPT_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def environment(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_the_proxy_gets_its_own_token_and_none_of_the_hubs_other_secrets(entra_hub):
    hub_env = environment(entra_hub.proc.pid)
    assert set(HUB_SECRETS) <= set(hub_env), "the hub itself has them all"
    proxies = [
        p
        for p in psutil.Process(entra_hub.proc.pid).children(recursive=True)
        if any("configurable-http-proxy" in part for part in p.cmdline())
    ]
    assert len(proxies) == 1
    proxy_env = environment(proxies[0].pid)
    assert proxy_env["CONFIGPROXY_AUTH_TOKEN"] == hub_env["CONFIGPROXY_AUTH_TOKEN"]
    assert [name for name in HUB_SECRETS if name in proxy_env] == []
    assert [name for name, value in proxy_env.items() if value in {hub_env[s] for s in HUB_SECRETS}] == []
