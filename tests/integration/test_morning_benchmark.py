"""The morning benchmark runs end to end (with tiny counts) and prints every figure with its ratio; its figures come
from a full run (README, "How fast is it?"), never from a test."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "morning.py"
TINY = {
    "--sign-ins": "2",
    "--notebooks": "12",
    "--megabytes": "0.1",
    "--repeats": "1",
    "--storm-servers": "3",
    "--storm-requests": "30",
    "--storm-concurrency": "3",
    "--memory-people": "50",
    "--day-people": "6",
    "--hours": "2",
}


def test_morning_benchmark_runs_with_tiny_counts():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *(item for pair in TINY.items() for item in pair)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for line in (
        "1. Sign-in, 2 sign-ins of each kind",
        "groups in the id_token: authenticator adds p50",
        "group overage (Graph): authenticator adds p50",
        "ratio added/exchange at p50",
        "2. Contents API, medians of 1 rounds; a folder of 12 notebooks",
        "S3, ours",
        "the folder's S3 listing alone",
        "3. The 9:00 storm: 30 first fetches",
        "failed: 0 []",
        "STS calls: 30 for 30 first fetches",  # every first fetch is one STS call, no more
        "memory, 50 people cached: credential cache",
        "4. A long day: 2 simulated hours, 6 people x 3 SDK clients",
        "ratio 1.00",  # the cache makes exactly one STS call per usable session length
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
