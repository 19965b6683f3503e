"""Benchmark: `python -m bench` (or `make bench`).

Drives three servers with wrk, single-row requests, at several concurrencies, in one run:
  service   the model service (`model-service serve`: batching, metrics and access log on)
  baseline  Flask + gunicorn, 2 sync workers, `model.predict` per request (bench/baseline_flask.py)
  ceiling   a bare endpoint on the service's own server stack (bench/hello.py)
The targets take turns within every round, so a slow patch of the machine hits all of them alike;
each figure is the median over the rounds. It prints requests/s, p50 and p99 for each target and
the ratios; `--check` exits 1 when the targets below are missed at the gate concurrency (32).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

ROW = "[13.2,1.78,2.14,11.2,100,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050]"
V2_BODY = '{"inputs":[{"name":"input-0","datatype":"FP64","shape":[1,13],"data":' + ROW + "}]}"
GATE_CONCURRENCY = 32
MIN_BASELINE_RATIO = 3.0
MIN_CEILING_RATIO = 0.5
MAX_P99_MS = 15.0


@dataclass
class Target:
    name: str
    url: str
    body: str
    port: int


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until `url` answers GET with 200, or with 405 (a POST-only route: the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            with urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except HTTPError as error:
            if error.code == 405:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@contextmanager
def _server(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(ready_url, process)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(target: Target, concurrency: int, seconds: float, workdir: Path) -> Result:
    script = workdir / f"{target.name}.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = \'{target.body}\'\n'
    )
    threads = max(1, min(2, concurrency))
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "-s", str(script), target.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?):\s*(\d+)", output))
    return Result(rps, p50, p99, errors)


def median_result(results: list[Result]) -> Result:
    return Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at each concurrency (median is reported)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the targets are missed")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (Debian/Ubuntu) or brew install wrk", file=sys.stderr)
        return 2

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        from model_service.training import TrainingOptions, train

        artifact = train(TrainingOptions(output=workdir / "model"))
        ports = {name: _free_port() for name in ("service", "baseline", "ceiling")}
        targets = [
            Target("ceiling", f"http://127.0.0.1:{ports['ceiling']}/hello", V2_BODY, ports["ceiling"]),
            Target(
                "service",
                f"http://127.0.0.1:{ports['service']}/v2/models/wine-classifier/infer",
                V2_BODY,
                ports["service"],
            ),
            Target(
                "baseline",
                f"http://127.0.0.1:{ports['baseline']}/predict",
                '{"features":' + ROW + "}",
                ports["baseline"],
            ),
        ]
        common = {
            "PORT": "",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "MODEL_DIR": str(artifact),
            "PYTHONUNBUFFERED": "0",
        }
        stack.enter_context(
            _server(
                [python, "-m", "model_service", "serve"],
                {**common, "PORT": str(ports["service"]), "LOG_LEVEL": "INFO"},
                f"http://127.0.0.1:{ports['service']}/v2/health/ready",
                workdir / "service.log",
            )
        )
        stack.enter_context(
            _server(
                [python, "-m", "bench.hello"],
                {**common, "PORT": str(ports["ceiling"])},
                f"http://127.0.0.1:{ports['ceiling']}/hello",
                workdir / "ceiling.log",
            )
        )
        stack.enter_context(
            _server(
                [
                    python,
                    "-m",
                    "gunicorn",
                    "-w",
                    "2",
                    "-k",
                    "sync",
                    "-b",
                    f"127.0.0.1:{ports['baseline']}",
                    "--log-level",
                    "warning",
                    "bench.baseline_flask:app",
                ],
                common,
                f"http://127.0.0.1:{ports['baseline']}/predict",
                workdir / "baseline.log",
            )
        )

        print(
            f"machine: {os.cpu_count()} CPUs; wrk, single-row requests, {args.duration:g}s per target, "
            f"median of {args.rounds} interleaved rounds"
        )
        print(f"{'concurrency':>11} {'target':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        verdicts: list[str] = []
        for concurrency in args.concurrency:
            results: dict[str, list[Result]] = {t.name: [] for t in targets}
            for _ in range(args.rounds):
                for target in targets:
                    results[target.name].append(run_wrk(target, concurrency, args.duration, workdir))
            summary = {name: median_result(values) for name, values in results.items()}
            for name, result in summary.items():
                print(
                    f"{concurrency:>11} {name:>9} {result.rps:>9.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
                    f"{result.errors:>7}"
                )
            service = summary["service"]
            vs_baseline = service.rps / summary["baseline"].rps
            vs_ceiling = service.rps / summary["ceiling"].rps
            print(f"{concurrency:>11} ratios: service/baseline {vs_baseline:.2f}x, service/ceiling {vs_ceiling:.2f}")
            if concurrency == GATE_CONCURRENCY:
                verdicts = [
                    f"service/baseline {vs_baseline:.2f} >= {MIN_BASELINE_RATIO}: "
                    f"{'PASS' if vs_baseline >= MIN_BASELINE_RATIO else 'FAIL'}",
                    f"service/ceiling {vs_ceiling:.2f} >= {MIN_CEILING_RATIO}: "
                    f"{'PASS' if vs_ceiling >= MIN_CEILING_RATIO else 'FAIL'}",
                    f"service p99 {service.p99_ms:.2f} ms <= {MAX_P99_MS}: "
                    f"{'PASS' if service.p99_ms <= MAX_P99_MS else 'FAIL'}",
                    f"service errors {service.errors} == 0: {'PASS' if service.errors == 0 else 'FAIL'}",
                ]
        if verdicts:
            print(f"targets at concurrency {GATE_CONCURRENCY}:")
            for line in verdicts:
                print(f"  {line}")
        failed = any(line.endswith("FAIL") for line in verdicts)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
