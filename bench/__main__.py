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
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.harness import Result, Target, free_port, median_result, run_wrk, server

ROW = "[13.2,1.78,2.14,11.2,100,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050]"
V2_BODY = '{"inputs":[{"name":"input-0","datatype":"FP64","shape":[1,13],"data":' + ROW + "}]}"
BASELINE_BODY = '{"features":' + ROW + "}"
GATE_CONCURRENCY = 32
MIN_BASELINE_RATIO = 3.0
MIN_CEILING_RATIO = 0.5
MAX_P99_MS = 15.0


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
        service, raw, baseline = (f"http://127.0.0.1:{free_port()}" for _ in range(3))
        targets = [
            Target("service", f"{service}/v2/models/wine-classifier/infer", V2_BODY),
            Target("ceiling", f"{service}/v2/health/live", None),
            Target("raw", f"{raw}/hello", V2_BODY),
            Target("baseline", f"{baseline}/predict", BASELINE_BODY),
        ]
        common = {
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "MODEL_DIR": str(artifact),
            "PYTHONUNBUFFERED": "0",
            "SHUTDOWN_DRAIN_SECONDS": "0",  # nothing to drain from at the end of a benchmark
        }
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
            captured = f"http://127.0.0.1:{free_port()}"
            targets.append(Target("captured", f"{captured}/v2/models/wine-classifier/infer", V2_BODY))
            capture_env = {"LOG_LEVEL": "INFO", **_capture_env(stack)}
            servers.append(([python, "-m", "model_service", "serve"], captured, "/v2/health/ready", capture_env))
        for command, url, ready_path, env in servers:
            port = url.rsplit(":", 1)[1]
            log = workdir / f"{command[2]}.log"
            stack.enter_context(server(command, {**common, "PORT": port, **env}, url + ready_path, log))

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

    port = free_port()
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
