"""What the broker benchmark and the morning benchmark share: people with stand-in servers on a test hub, and
concurrent clients of the broker's credential endpoint."""

import asyncio
import time

import aiohttp

from tests.fixtures.jupyterhub import person


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_stub_servers(hub, prefix: str, count: int) -> tuple[str, list[str]]:
    """``count`` people (analysts) signed in, each with a running stand-in server; the broker's URL as servers see it
    and each server's own token."""
    names = [f"stub-{prefix}-{i:02d}" for i in range(count)]
    hub.add_people({name: person("analysts") for name in names})
    for name in names:
        hub.login(name)
        assert hub.spawn(name)["ready"]
    env = hub.server_env(names[0])
    return env["JUPYTERHUB_AWS_BROKER_URL"], [hub.server_token(n) for n in names]


async def load(url: str, tokens: list[str], total: int, concurrency: int = 50, timeout: float = 60) -> dict:
    """``concurrency`` clients, each with its own server token, ``total`` requests in all, after one warm-up request
    per client. Every answer but 200 counts as failed; ``timeout`` is how long one client waits for an answer."""
    latencies, failures = [], []
    per_client = total // concurrency
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:

        async def fetch(token):
            started = time.perf_counter()
            try:
                async with session.get(f"{url}v1/credentials", headers={"Authorization": f"token {token}"}) as r:
                    await r.read()
                    status = r.status
            except (TimeoutError, aiohttp.ClientError) as e:
                status = type(e).__name__
            return status, time.perf_counter() - started

        async def client(token):
            for _ in range(per_client):
                status, seconds = await fetch(token)
                latencies.append(seconds)
                if status != 200:
                    failures.append(status)

        await asyncio.gather(*(fetch(t) for t in tokens[:concurrency]))  # warm-up (mints in the cached case)
        started = time.perf_counter()
        await asyncio.gather(*(client(tokens[i % len(tokens)]) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "failures": failures,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
    }
