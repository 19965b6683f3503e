"""Soak benchmark: `python -m bench.soak [--minutes 10]`.

Runs the model service as a dev pod would (MEMORY_LIMIT_BYTES of the dev pod's limit, feedback
on) and drives it for the given time with maximum-size batch requests (MAX_ROWS_PER_REQUEST
rows each), each followed by a label for every row through /feedback, from several clients at
once. The server's resident memory is sampled every few seconds. It prints the curve, its start
(after a warm-up), end and peak, and exits 1 if memory ever reaches the pod limit or grows beyond
--max-growth of the start plus the one structure allowed to fill up: the cache of scored feedback
ids, bounded at a share of the memory limit (model_service.settings.REPLAY_CACHE_SHARE).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.harness import free_port, wait_ready
from model_service.settings import REPLAY_CACHE_SHARE

DEV_POD_LIMIT_MIB = 512
ROWS = 1024
TOKEN = "soak-labelling-credential"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _client(url: str, stop: threading.Event, counts: dict[str, int], lock: threading.Lock, seed: int) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine().data
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, timeout=30, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        while not stop.is_set():
            rows = wine[rng.integers(0, len(wine), ROWS)] * rng.normal(1.0, 0.02, (ROWS, wine.shape[1]))
            body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [ROWS, 13], "data": rows.ravel().tolist()}]}
            answer = client.post("/v2/models/wine-classifier/infer", json=body)
            labels = rng.integers(0, 3, ROWS).tolist()
            scored = client.post(
                "/feedback", json={"feedback_id": answer.json()["parameters"]["feedback_id"], "labels": labels}
            )
            with lock:
                counts["requests"] += 2
                counts["errors"] += (answer.status_code != 200) + (scored.status_code != 200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to drive the server")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sampling interval")
    parser.add_argument("--warmup-seconds", type=float, default=30.0, help="samples before this are not the start")
    parser.add_argument("--limit-mib", type=int, default=DEV_POD_LIMIT_MIB, help="the pod memory limit to stay under")
    parser.add_argument("--max-growth", type=float, default=0.05, help="largest allowed end/start growth")
    args = parser.parse_args(argv)

    from model_service.training import TrainingOptions, train

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        artifact = train(TrainingOptions(output=Path(tmp) / "model"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "MODEL_DIR": str(artifact),
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "MAX_ROWS_PER_REQUEST": str(ROWS),
            "MEMORY_LIMIT_BYTES": str(args.limit_mib * 1024 * 1024),
            "FEEDBACK_TOKEN": TOKEN,
            "FEEDBACK_SIGNING_KEY": "soak-signing-key-shared-by-every-replica",
            "SHUTDOWN_DRAIN_SECONDS": "0",
        }
        log = (Path(tmp) / "server.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "model_service", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_ready(url + "/v2/health/ready", process)
            samples = _drive(url, process.pid, args)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return _report(samples, args)


def _drive(url: str, pid: int, args: argparse.Namespace) -> list[tuple[float, int, int, int]]:
    """(seconds, RSS bytes, requests so far, errors so far) every sample interval."""
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"requests": 0, "errors": 0}
    clients = [
        threading.Thread(target=_client, args=(url, stop, counts, lock, seed), daemon=True)
        for seed in range(args.clients)
    ]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    samples = []
    end = started + args.minutes * 60
    while True:
        now = time.monotonic()
        with lock:
            samples.append((now - started, rss_bytes(pid), counts["requests"], counts["errors"]))
        if now >= end:
            break
        time.sleep(min(args.sample_seconds, max(end - now, 0.01)))
    stop.set()
    for thread in clients:
        thread.join(timeout=60)
    return samples


def _report(samples: list[tuple[float, int, int, int]], args: argparse.Namespace) -> int:
    mib = 1024 * 1024
    print(f"soak: {args.minutes:g} min, {args.clients} clients, {ROWS}-row requests each followed by {ROWS} labels")
    print(f"{'seconds':>8} {'RSS MiB':>8} {'requests':>9} {'errors':>7}")
    for seconds, rss, requests, errors in samples:
        print(f"{seconds:>8.0f} {rss / mib:>8.1f} {requests:>9} {errors:>7}")
    warm = [s for s in samples if s[0] >= args.warmup_seconds] or samples
    start, end, peak = warm[0][1], samples[-1][1], max(s[1] for s in samples)
    growth = end / start - 1
    errors = samples[-1][3]
    cache = args.limit_mib * mib * REPLAY_CACHE_SHARE
    allowed = start * (1 + args.max_growth) + cache
    print(
        f"RSS start {start / mib:.1f} MiB (at {warm[0][0]:.0f} s), end {end / mib:.1f} MiB, peak {peak / mib:.1f} MiB, "
        f"growth {growth:+.1%}; limit {args.limit_mib} MiB; {samples[-1][2]} requests, {errors} errors"
    )
    print(
        f"allowed: start +{args.max_growth:.0%} plus the scored-ids cache (at most {cache / mib:.1f} MiB) "
        f"= {allowed / mib:.1f} MiB"
    )
    failures = []
    if peak >= args.limit_mib * mib:
        failures.append(f"peak RSS reached the {args.limit_mib} MiB limit")
    if peak > allowed:
        failures.append(f"RSS grew to {peak / mib:.1f} MiB, above the {allowed / mib:.1f} MiB allowed")
    if errors:
        failures.append(f"{errors} requests failed")
    print("verdict: " + ("; ".join(failures) if failures else "bounded and under the limit"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
