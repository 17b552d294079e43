"""Benchmark of the credential broker against a local moto server, on this machine, in one run.

(a) spawn-to-ready time of a real JupyterLab server (S3Contents in moto) with brokering on versus off (the same
    server with static moto keys instead), as a ratio of medians;
(b) the credential endpoint's throughput and p50/p99 latency at 50 concurrent clients, cached and uncached
    (uncached: the broker started through tests/fixtures/broker_for_tests.py --no-cache and without a token cache,
    so every request asks the hub who the token is and calls STS);
(c) STS calls per person per hour of simulated refreshing: SDK clients that re-run credential_process when less than
    15 minutes remain (botocore's advisory refresh), through the broker's real cache, minting against moto.

    .venv/bin/python benchmarks/broker_benchmark.py                 # the figures (a few minutes)
    .venv/bin/python benchmarks/broker_benchmark.py --spawns 2 --requests 200 --hours 1   # a quick look
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.broker.cache import CredentialCache  # noqa: E402
from hub.broker.minting import Credentials  # noqa: E402
from hub.broker.settings import CredentialBroker  # noqa: E402
from tests.fixtures.jupyterhub import create_bucket, person, start_hub, stop_hub  # noqa: E402
from tests.fixtures.servers import start_moto, stop  # noqa: E402

# botocore refreshes credential_process credentials when less than this remains (its advisory refresh window).
BOTOCORE_ADVISORY_REFRESH_SECONDS = 15 * 60


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spawn_times(hub, prefix: str, count: int) -> list[float]:
    times = []
    hub.add_people({f"{prefix}-{i:02d}": person("analysts") for i in range(count)})
    for i in range(count):
        name = f"{prefix}-{i:02d}"
        hub.login(name)
        started = time.perf_counter()
        server = hub.spawn(name)
        assert server and server["ready"], f"{name}'s server did not start: {hub.spawn_failure(name)}"
        times.append(time.perf_counter() - started)
        hub.stop_server(name)
    return times


def start_stub_servers(hub, prefix: str, count: int) -> tuple[str, list[str]]:
    names = [f"stub-{prefix}-{i:02d}" for i in range(count)]
    hub.add_people({name: person("analysts") for name in names})
    for name in names:
        hub.login(name)
        assert hub.spawn(name)["ready"]
    env = hub.server_env(names[0])
    return env["JUPYTERHUB_AWS_BROKER_URL"], [hub.server_token(n) for n in names]


async def load(url: str, tokens: list[str], total: int, concurrency: int = 50) -> dict:
    """``concurrency`` clients, each with its own server token, ``total`` requests in all."""
    latencies = []
    per_client = total // concurrency
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(token):
            headers = {"Authorization": f"token {token}"}
            for _ in range(per_client):
                started = time.perf_counter()
                async with session.get(f"{url}v1/credentials", headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - started)

        # warm-up: one request per client (mints in the cached case)
        await asyncio.gather(*(client_once(session, url, t) for t in tokens[:concurrency]))
        started = time.perf_counter()
        await asyncio.gather(*(client(tokens[i % len(tokens)]) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


async def client_once(session, url, token):
    async with session.get(f"{url}v1/credentials", headers={"Authorization": f"token {token}"}) as response:
        await response.read()


def simulated_refreshing(moto: str, people: int, clients_per_person: int, hours: float, session_seconds: int) -> dict:
    """STS calls per person per hour: SDK clients refresh (botocore's 15-minute advisory window) through the cache."""
    clock = {"now": 1_900_000_000.0}
    cache = CredentialCache(CredentialBroker().cache_margin_seconds, clock=lambda: clock["now"])
    sts = boto3.client(
        "sts",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 - moto
    )
    calls = {"n": 0}

    def mint_for(name):
        async def mint():
            calls["n"] += 1
            sts.assume_role(
                RoleArn="arn:aws:iam::123456789012:role/jupyterhub-analyst",
                RoleSessionName=name,
                DurationSeconds=session_seconds,
            )
            now = clock["now"]
            return Credentials(
                "K", "S", "T", datetime.fromtimestamp(now, UTC) + timedelta(seconds=session_seconds), now
            )

        return mint

    async def run():
        held = {(p, c): None for p in range(people) for c in range(clients_per_person)}
        step, end = 60.0, clock["now"] + hours * 3600
        while clock["now"] < end:
            for (p, c), creds in held.items():
                if creds is None or creds.expiration.timestamp() - clock["now"] < BOTOCORE_ADVISORY_REFRESH_SECONDS:
                    held[(p, c)], _ = await cache.get((f"person-{p}",), mint_for(f"person-{p}"))
            clock["now"] += step

    asyncio.run(run())
    return {"sts_calls_per_person_per_hour": calls["n"] / people / hours, "session_seconds": session_seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=20, help="spawns per configuration for (a)")
    parser.add_argument("--requests", type=int, default=20000, help="cached requests for (b)")
    parser.add_argument("--uncached-requests", type=int, default=1000, help="uncached requests for (b)")
    parser.add_argument("--hours", type=float, default=8, help="simulated hours for (c)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="broker-benchmark-") as tmp:
        tmp = Path(tmp)
        moto, moto_proc = start_moto(tmp)
        create_bucket(moto)
        try:
            results = {}
            # The broker's production token memo (30 s); the test fixture's default is 1 s.
            hub = start_hub(tmp / "on", moto, extra_env={"HUB_TEST_BROKER_TOKEN_CACHE_SECONDS": "30"})
            try:
                on = spawn_times(hub, "bench-on", args.spawns)
                url, tokens = start_stub_servers(hub, "load", 50)
                results["cached"] = asyncio.run(load(url, tokens, args.requests))
            finally:
                stop_hub(hub)
            hub = start_hub(tmp / "off", moto, brokering=False)
            try:
                off = spawn_times(hub, "bench-off", args.spawns)
            finally:
                stop_hub(hub)
            hub = start_hub(
                tmp / "uncached",
                moto,
                extra_env={"HUB_TEST_BROKER_ARGS": "--no-cache", "HUB_TEST_BROKER_TOKEN_CACHE_SECONDS": "0"},
            )
            try:
                url, tokens = start_stub_servers(hub, "nocache", 50)
                results["uncached"] = asyncio.run(load(url, tokens, args.uncached_requests))
            finally:
                stop_hub(hub)
            refresh = simulated_refreshing(
                moto, people=10, clients_per_person=5, hours=args.hours, session_seconds=3600
            )
        finally:
            stop(moto_proc)

    print(f"(a) spawn-to-ready over {args.spawns} spawns each, real JupyterLab with S3Contents in moto:")
    print(f"    brokering on : median {statistics.median(on):.2f} s (min {min(on):.2f}, max {max(on):.2f})")
    print(f"    brokering off: median {statistics.median(off):.2f} s (min {min(off):.2f}, max {max(off):.2f})")
    print(f"    ratio on/off : {statistics.median(on) / statistics.median(off):.2f}")
    print("(b) credential endpoint, 50 concurrent clients (50 people), direct to the broker:")
    for name in ("cached", "uncached"):
        r = results[name]
        print(
            f"    {name:8s}: {r['requests']} requests, {r['rps']:.0f} req/s, "
            f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
        )
    print(f"(c) simulated refreshing, {args.hours:g} h, 10 people x 5 SDK clients, 1-hour sessions:")
    print(f"    STS calls per person per hour: {refresh['sts_calls_per_person_per_hour']:.2f}")
    print("    (credentials are reused until 15 minutes before expiry, when botocore refreshes: one call per 45 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
