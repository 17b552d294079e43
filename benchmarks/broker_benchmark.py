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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import morning_long_day  # noqa: E402
from common import load, start_stub_servers  # noqa: E402

from tests.fixtures.jupyterhub import create_bucket, person, start_hub, stop_hub  # noqa: E402
from tests.fixtures.servers import start_moto, stop  # noqa: E402


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
            refresh = morning_long_day.simulate(people=10, hours=args.hours)
        finally:
            stop(moto_proc)

    for name in ("cached", "uncached"):
        assert not results[name]["failures"], f"{name}: failed requests {results[name]['failures'][:10]}"
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
    clients = morning_long_day.SDK_CLIENTS_PER_SERVER
    sessions = ", ".join(f"{s} s" for s in refresh["sessions"])
    print(f"(c) simulated refreshing, {args.hours:g} h, 10 people x {clients} SDK clients, sessions of {sessions}:")
    print(f"    STS calls per person per hour: {refresh['sts_calls_per_person_per_hour']:.2f}")
    print("    (credentials are reused until 15 minutes before expiry, when botocore refreshes: one call per 45 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
