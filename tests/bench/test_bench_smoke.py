"""The benchmark still runs end to end (its figures are for people; nothing here judges speed)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.pulumi_harness import REPO
from tests.support.tools import require_tool


@pytest.mark.parametrize(
    "module",
    [
        "bench",
        "bench.observability",
        "bench.observability_cost",
        "bench.soak",
        "bench.drift_alerts",
        "bench.stack_eval",
    ],
)
def test_benchmark_help_describes_its_options(module: str) -> None:
    """`--help` is how a reader finds a benchmark's switches; argparse formats help texts with `%`."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")


def test_benchmark_runs_all_three_targets_and_prints_ratios() -> None:
    require_tool("wrk", "apt-get install wrk")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--concurrency", "2", "32", "--rounds", "1", "--duration", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for target in ("service", "ceiling", "raw", "baseline"):
        assert re.search(rf"^\s+32\s+{target}\s+\d+\s+[\d.]+\s+[\d.]+\s+0$", result.stdout, re.M), result.stdout
    assert re.search(r"ratios: service/baseline [\d.]+x, service/ceiling [\d.]+, service/raw [\d.]+", result.stdout)
    assert "targets at concurrency 32:" in result.stdout


def test_soak_benchmark_runs_and_reports_the_memory_curve() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--minutes",
            "0.15",
            "--clients",
            "2",
            "--sample-seconds",
            "2",
            "--warmup-seconds",
            "2",
            "--max-growth",
            "0.5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"RSS start [\d.]+ MiB \(at \d+ s\), end [\d.]+ MiB, peak [\d.]+ MiB", result.stdout)
    requests = int(re.search(r"; (\d+) requests, 0 errors", result.stdout).group(1))  # type: ignore[union-attr]
    assert requests > 0
    assert "verdict: bounded and under the limit" in result.stdout


def test_observability_benchmark_measures_every_switch_and_proves_nothing_was_dropped() -> None:
    require_tool("wrk", "apt-get install wrk")
    result = subprocess.run(
        [sys.executable, "-m", "bench.observability", "--rounds", "2", "--duration", "1", "--concurrency", "8"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for variant in ("none", "access-log", "model-metrics", "tracing", "all", "control"):
        assert re.search(
            rf"^\s+{variant}\s+\d+\s+[\d.]+\s+[\d.]+-[\d.]+\s+[\d.]+\s+[\d.]+\s+0\s+[\d.]+\s+[\d.]+$",
            result.stdout,
            re.M,
        ), result.stdout
    assert re.search(r"noise: control, identical to none, measured [\d.]+% apart", result.stdout), result.stdout
    assert "nothing dropped: every log line, metric and sampled span: PASS" in result.stdout
    assert re.search(r"all costs -?[\d.]+% of none's throughput <= 10%: (PASS|FAIL)", result.stdout)


def test_in_process_observability_cost_reports_every_switch() -> None:
    """The in-process cost table runs the real application with each switch, including spans sent
    to the OTLP receiver, and prints a row a configuration."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.observability_cost", "--rounds", "1", "--requests", "640"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^\s+([a-z-]+)\s+([\d.]+)\s+(-?[\d.]+)\s+([\d.]+)$", result.stdout, re.M)
    assert [name for name, *_ in rows] == ["none", "access-log", "model-metrics", "tracing", "all"], result.stdout
    assert all(float(cpu) > 0 for _, cpu, _, _ in rows)
