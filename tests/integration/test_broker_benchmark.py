"""The benchmark runs (with tiny counts); its figures come from a full run, see the script's docstring."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "broker_benchmark.py"


def test_benchmark_runs_with_tiny_counts():
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--spawns",
            "1",
            "--requests",
            "100",
            "--uncached-requests",
            "50",
            "--hours",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for line in ("ratio on/off :", "cached  : 100 requests", "uncached: 50 requests", "STS calls per person per hour"):
        assert line in result.stdout
