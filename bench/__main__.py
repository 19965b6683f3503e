"""Benchmark: `python -m bench` (or `make bench`).

Drives wrk at several concurrencies with single-row requests against, in one run:
  service   POST /v2/models/wine-classifier/infer on the model service (`model-service serve`,
            batching, metrics and access log on)
  ceiling   GET /v2/health/live on that same server: a bare endpoint on the same stack (uvicorn,
            the service's routing, per-request metrics and access log) that does no work
  raw       a bare ASGI app under the same uvicorn settings (bench/hello.py): the server alone,
            shown for reference
  baseline  Flask + gunicorn, 2 sync workers, `model.predict` per request (bench/baseline_flask.py)
  captured  (with --capture) a second model service capturing 10% of requests to S3 (a local
            moto S3 server): the cost of keeping production data
The targets take turns within every round, so a slow patch of the machine hits all of them alike;
each figure is the median over the rounds. `--check` exits 1 when, at 32 clients, the service is
below 3x the baseline, below half the ceiling, above 15 ms p99, or answered any request with an
error.
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
BASELINE_BODY = '{"features":' + ROW + "}"
GATE_CONCURRENCY = 32
MIN_BASELINE_RATIO = 3.0
MIN_CEILING_RATIO = 0.5
MAX_P99_MS = 15.0


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: str | None  # None: GET


@dataclass(frozen=True)
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
        except OSError:
            pass
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
    if target.body is None:
        script.write_text('wrk.method = "GET"\n')
    else:
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
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Result(rps, p50, p99, errors)


def median_result(results: list[Result]) -> Result:
    return Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def _verdicts(summary: dict[str, Result]) -> list[str]:
    service = summary["service"]
    checks = [
        (
            f"service/baseline {service.rps / summary['baseline'].rps:.2f} >= {MIN_BASELINE_RATIO}",
            service.rps / summary["baseline"].rps >= MIN_BASELINE_RATIO,
        ),
        (
            f"service/ceiling {service.rps / summary['ceiling'].rps:.2f} >= {MIN_CEILING_RATIO}",
            service.rps / summary["ceiling"].rps >= MIN_CEILING_RATIO,
        ),
        (f"service p99 {service.p99_ms:.2f} ms <= {MAX_P99_MS}", service.p99_ms <= MAX_P99_MS),
        (f"service errors {service.errors} == 0", service.errors == 0),
    ]
    return [f"{text}: {'PASS' if ok else 'FAIL'}" for text, ok in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at each concurrency (medians are reported)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the targets are missed")
    parser.add_argument(
        "--capture", action="store_true", help="also measure a service capturing 10%% of requests to S3"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (Debian/Ubuntu) or brew install wrk", file=sys.stderr)
        return 2

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        from model_service.training import TrainingOptions, train

        artifact = train(TrainingOptions(output=workdir / "model"))
        service, raw, baseline = (f"http://127.0.0.1:{_free_port()}" for _ in range(3))
        targets = [
            Target("service", f"{service}/v2/models/wine-classifier/infer", V2_BODY),
            Target("ceiling", f"{service}/v2/health/live", None),
            Target("raw", f"{raw}/hello", V2_BODY),
            Target("baseline", f"{baseline}/predict", BASELINE_BODY),
        ]
        common = {"HOST": "127.0.0.1", "LOG_LEVEL": "WARNING", "MODEL_DIR": str(artifact), "PYTHONUNBUFFERED": "0"}
        servers = [
            ([python, "-m", "model_service", "serve"], service, "/v2/health/ready", {"LOG_LEVEL": "INFO"}),
            ([python, "-m", "bench.hello"], raw, "/hello", {}),
            (
                [
                    python,
                    "-m",
                    "gunicorn",
                    "-w",
                    "2",
                    "-k",
                    "sync",
                    "--log-level",
                    "warning",
                    "-b",
                    baseline.removeprefix("http://"),
                    "bench.baseline_flask:app",
                ],
                baseline,
                "/predict",
                {},
            ),
        ]
        if args.capture:
            captured = f"http://127.0.0.1:{_free_port()}"
            targets.append(Target("captured", f"{captured}/v2/models/wine-classifier/infer", V2_BODY))
            capture_env = {"LOG_LEVEL": "INFO", **_capture_env(stack)}
            servers.append(([python, "-m", "model_service", "serve"], captured, "/v2/health/ready", capture_env))
        for command, url, ready_path, env in servers:
            port = url.rsplit(":", 1)[1]
            log = workdir / f"{command[2]}.log"
            stack.enter_context(_server(command, {**common, "PORT": port, **env}, url + ready_path, log))

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
            rps = {name: result.rps for name, result in summary.items()}
            print(
                f"{concurrency:>11} ratios: service/baseline {rps['service'] / rps['baseline']:.2f}x, "
                f"service/ceiling {rps['service'] / rps['ceiling']:.2f}, service/raw {rps['service'] / rps['raw']:.2f}"
            )
            if "captured" in rps:
                print(f"{concurrency:>11} capture at 10%: captured/service {rps['captured'] / rps['service']:.3f}")
            if concurrency == GATE_CONCURRENCY:
                verdicts = _verdicts(summary)
        if verdicts:
            print(f"targets at concurrency {GATE_CONCURRENCY}:")
            for line in verdicts:
                print(f"  {line}")
    return 1 if args.check and any(line.endswith("FAIL") for line in verdicts) else 0


def _capture_env(stack: ExitStack) -> dict[str, str]:
    """A local S3 (moto's server) with a bucket, and the settings that capture 10% into it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stack.callback(server.stop)
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket="capture")
    return {
        **credentials,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "CAPTURE_URI": "s3://capture/cluster/model-service",
        "CAPTURE_SAMPLE_PERCENT": "10",
        "STORE_FLUSH_SECONDS": "5",
    }


if __name__ == "__main__":
    raise SystemExit(main())
