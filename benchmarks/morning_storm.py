"""Figure 3 of the morning benchmark: the 9:00 storm, every person's first credential fetch, and what 5,000 cached
people cost the broker in memory.

A first fetch is the broker's uncached path: it asks the hub who the token is and for the person's model, decides the
grant, and calls STS (the recording STS endpoint in front of moto). The hub's broker runs with no credential cache and
no token memo (``tests/fixtures/broker_for_tests.py --no-cache``), so every request of a few stand-in servers is such a
first fetch; what is measured is the rate, the latency against the credential helper's timeout, the STS calls, and
the CPU each process spent per request, which says what limits the rate and what 5,000 people in a minute need.

Memory: the broker's two caches filled for ``people`` people, measured with tracemalloc: the credential cache
(:class:`hub.broker.cache.CredentialCache`, what lives for the session's length) and the token memo
(:class:`hub.broker.cache.TTLCache`, who a token belongs to, for ``token_cache_seconds``).
"""

import asyncio
import gc
import secrets
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from common import load, start_stub_servers

from authenticator.access_policy import load_access_policy
from hub.broker.cache import CredentialCache, TTLCache
from hub.broker.minting import Credentials, Grant
from hub.broker.service import Broker, token_key
from hub.broker.settings import CredentialBroker
from hub.session_policy import packed_session_policy
from tests.fixtures.jupyterhub import DEMO_POLICY, start_hub, stop_hub

HELPER_TIMEOUT_SECONDS = 10  # hub/aws_credential_process.py's default wait for the broker
# A realistic length for an AWS STS session token. AWS does not fix it ("we strongly recommend that you make no
# assumptions about the maximum size"); session policies and tags make it longer. moto's are shorter.
# ref: https://docs.aws.amazon.com/sdk-for-sap-abap/v1/api/latest/sts/model/_AWS1_CL_STSGETSESSIONTOKENRSP.html
STS_SESSION_TOKEN_CHARS = 1_000


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}


def broker_process(hub) -> psutil.Process:
    children = psutil.Process(hub.proc.pid).children(recursive=True)
    return next(p for p in children if "broker" in " ".join(p.cmdline()))


def first_fetches(state: Path, moto: str, moto_pid: int, servers: int, requests: int, concurrency: int) -> dict:
    """``requests`` first fetches from ``servers`` stand-in servers, ``concurrency`` at a time."""
    env = {
        "HUB_TEST_BROKER_ARGS": "--no-cache",
        "HUB_TEST_BROKER_TOKEN_CACHE_SECONDS": "0",
        # at 9:00 people have just signed in: the hub re-checks membership only after auth_refresh_age, as deployed
        "HUB_TEST_AUTH_REFRESH_AGE": "300",
    }
    hub = start_hub(state, moto, extra_env=env)
    try:
        url, tokens = start_stub_servers(hub, "storm", servers)
        processes = {
            "hub": psutil.Process(hub.proc.pid),
            "broker": broker_process(hub),
            "moto (STS)": psutil.Process(moto_pid),
            "benchmark (clients, STS proxy)": psutil.Process(),
        }
        sts_before = len(hub.sts.assume_role_calls())
        cpu_before = cpu_seconds(processes)
        result = asyncio.run(load(url, tokens, requests, concurrency, timeout=HELPER_TIMEOUT_SECONDS))
        cpu_after = cpu_seconds(processes)
        # the warm-up requests (one per client) are STS calls too, and their CPU is in the figures: count them
        warm_up = min(concurrency, len(tokens))
        result["sts_calls"] = len(hub.sts.assume_role_calls()) - sts_before - warm_up
        result["cpu_ms_per_request"] = {
            name: 1000 * (cpu_after[name] - cpu_before[name]) / (result["requests"] + warm_up) for name in processes
        }
        return result
    finally:
        stop_hub(hub)


def synthetic_credentials(now: datetime) -> Credentials:
    """Distinct credentials of AWS's sizes (20-character key id, 40-character secret)."""
    return Credentials(
        "ASIA" + secrets.token_hex(8).upper(),
        secrets.token_urlsafe(30),
        secrets.token_urlsafe(STS_SESSION_TOKEN_CHARS * 3 // 4),
        now + timedelta(hours=1),
        now.timestamp(),
    )


def cache_memory(people: int) -> dict:
    """Bytes per person that the broker's credential cache and token memo hold, filled as the broker fills them:
    keys, credentials and grants are made while tracemalloc traces, and only the cache keeps them."""
    policy = load_access_policy(DEMO_POLICY)
    group = policy.group("analysts")
    settings = CredentialBroker()
    now = datetime.now(UTC)

    def grant(i: int) -> Grant:
        username = f"person-{i:05d}"
        home = policy.deployment.home_location(username)
        return Grant(
            username=username,
            oid=f"{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}",
            group=group,
            session_policy=packed_session_policy(
                username, group.role_arn, home, group.s3, policy.deployment.aws_partition
            ),
        )

    async def fill(cache, items):
        for key, value in items:

            async def compute(value=value):
                return value

            await cache.get(key, compute)

    def measured(make_cache, items) -> float:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        cache = make_cache()
        asyncio.run(fill(cache, items))
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        del cache
        return sum(s.size_diff for s in after.compare_to(before, "filename")) / people

    credential_items = ((Broker.credential_key(grant(i)), synthetic_credentials(now)) for i in range(people))
    # JupyterHub's API tokens are 32 hex characters; the memo keys them by their SHA-256, with the server's name.
    token_items = (((token_key(secrets.token_hex(16)), ""), grant(i)) for i in range(people))
    return {
        "people": people,
        "credential_cache_bytes": measured(lambda: CredentialCache(settings.cache_margin_seconds), credential_items),
        "token_memo_bytes": measured(lambda: TTLCache(settings.token_cache_seconds), token_items),
    }
