"""What observability costs the model service: `python -m bench.observability`.

Six servers of the same model, differing only in what they observe, take turns under wrk
(single-row requests) in every round, in an order that rotates from round to round; every round
starts them afresh and warms each up for a second before it is measured:
  none           no access log, no model metrics, no tracing (request metrics only: always on)
  access-log     the JSON access log
  model-metrics  prediction, confidence and per-feature drift metrics
  tracing        OpenTelemetry, 1% of requests sampled, spans exported over OTLP/HTTP
  all            all three
  control        a second `none`: what two identical servers differ by, the run's noise floor
Each server's throughput in a round is divided by `none`'s in the same round (the machine's speed
drifts; a round's servers run within seconds of each other), and the median of those ratios over
the rounds is its figure, with their quartiles; req/s, p50 and p99 are medians over the rounds.
Then nothing may have been dropped: in every round, once stopped, the `all` server's access log
has a line for every request its metrics counted, its prediction counter counts every row, and
every request its log marks as sampled arrived as a complete trace (server span, parse, batch
wait, model call) at the OTLP receiver. `--check` exits 1 when `all` costs more than 10% of
`none`'s throughput or anything was dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.request import urlopen

from prometheus_client.parser import text_string_to_metric_families

from bench.harness import Result, Target, cpu_seconds, free_port, median_result, run_wrk, server, split_cpus
from bench.otlp_receiver import OtlpReceiver
from model_service.tracing import SPANS_PER_SERVED_REQUEST
from monitoring import names

ROW = "[13.2,1.78,2.14,11.2,100,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050]"
V2_BODY = '{"inputs":[{"name":"input-0","datatype":"FP64","shape":[1,13],"data":' + ROW + "}]}"
INFER_PATH = "/v2/models/wine-classifier/infer"
INFER_ROUTE = "/v2/models/{name}/infer"
MAX_COST = 0.10
TRACE_RATIO = "0.01"
WARM_UP_SECONDS = 1.0

NOTHING = {"ACCESS_LOG": "false", "MODEL_METRICS": "false"}
VARIANTS = {
    "none": {},
    "access-log": {"ACCESS_LOG": "true"},
    "model-metrics": {"MODEL_METRICS": "true"},
    "tracing": {"TRACE_SAMPLE_RATIO": TRACE_RATIO, "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    "all": {
        "ACCESS_LOG": "true",
        "MODEL_METRICS": "true",
        "TRACE_SAMPLE_RATIO": TRACE_RATIO,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    },
}
# A second `none` server: the noise floor of the run, against which the others' costs are read.
CONTROL = "control"
SERVERS = {**VARIANTS, CONTROL: VARIANTS["none"]}


def _counter(metrics: str, name: str, **labels: str) -> float:
    """Sum of a counter's samples (Prometheus text) whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def lossless(log: Path, metrics: str, receiver: OtlpReceiver) -> list[str]:
    """Every request counted has its log line, every row its prediction count, every sampled
    request its complete trace. Returns the problems found."""
    served = _counter(metrics, f"{names.REQUESTS.name}_total", route=INFER_ROUTE)
    predicted = _counter(metrics, f"{names.PREDICTIONS.name}_total")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("message") == "request" and line.get("route") == INFER_ROUTE]
    sampled = {line["trace_id"] for line in logged if line.get("trace_sampled")}
    traces = receiver.traces()
    complete = {trace_id for trace_id, spans in traces.items() if len(spans) == SPANS_PER_SERVED_REQUEST}
    problems = []
    if len(logged) != served:
        problems.append(f"{served:.0f} requests counted, {len(logged)} logged")
    if predicted != served:
        problems.append(f"{served:.0f} single-row requests counted, {predicted:.0f} predictions")
    if not sampled or not sampled <= complete:
        problems.append(f"{len(sampled)} requests sampled, {len(sampled & complete)} complete traces received")
    missing = [line for line in logged if "trace_id" not in line or "span_id" not in line]
    if missing:
        problems.append(f"{len(missing)} log lines without trace_id and span_id")
    return problems


def _start(
    running: ExitStack, name: str, *, log: Path, artifact: Path, receiver: OtlpReceiver, cpus: set[int] | None
) -> tuple[int, str]:
    """Start the server `name` until `running` closes; returns its pid and base URL."""
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_DIR": str(artifact),
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_DRAIN_SECONDS": "0",
        **NOTHING,
        **{key: value or receiver.endpoint for key, value in SERVERS[name].items()},
    }
    url = f"http://127.0.0.1:{port}"
    process = running.enter_context(
        server([sys.executable, "-m", "model_service", "serve"], env, url + "/v2/health/ready", log, cpus)
    )
    return process.pid, url


def paired_ratios(values: dict[str, list[float]], base: str) -> dict[str, tuple[float, float, float]]:
    """Each server's value over `base`'s in the same round: (median, first quartile, third
    quartile) over the rounds. Pairing by round cancels what moves the whole machine between
    rounds, which a ratio of medians taken over different rounds keeps."""
    ratios = {}
    for name, series in values.items():
        paired = [value / reference for value, reference in zip(series, values[base], strict=True)]
        low, _, high = statistics.quantiles(paired, n=4, method="inclusive") if len(paired) > 1 else paired * 3
        ratios[name] = (statistics.median(paired), low, high)
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.observability", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per server per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds (medians are reported)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if `all` costs over {MAX_COST * 100:g} percent or drops"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (Debian/Ubuntu) or brew install wrk", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-observability-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        from model_service.training import TrainingOptions, train

        artifact = train(TrainingOptions(output=workdir / "model"))
        server_cpus, other_cpus = split_cpus()
        if other_cpus:
            os.sched_setaffinity(0, other_cpus)  # wrk and the OTLP receiver (this process) inherit it
        receiver = stack.enter_context(OtlpReceiver())
        placement = (
            f"servers on CPU {sorted(server_cpus)}, wrk on {sorted(other_cpus)}"
            if server_cpus and other_cpus
            else "unpinned"
        )
        print(
            f"machine: {os.cpu_count()} CPUs ({placement}); wrk, {args.concurrency} clients, single-row requests, "
            f"{args.duration:g}s per server, {args.rounds} interleaved rounds of fresh servers (ratios to none in "
            f"the same round, their median and quartiles); tracing samples {TRACE_RATIO}"
        )
        results: dict[str, list[Result]] = {name: [] for name in SERVERS}
        # Server CPU time per request: steadier than throughput on a machine shared with others.
        cpu: dict[str, list[float]] = {name: [] for name in SERVERS}
        problems: list[str] = []
        names = list(SERVERS)
        for round_index in range(args.rounds):
            # New processes every round: where a process's memory lands moves its speed by a few
            # percent for its whole life, which one process a server would keep in every round.
            with ExitStack() as running:
                pids, urls = {}, {}
                for name in names:
                    pids[name], urls[name] = _start(
                        running,
                        name,
                        log=workdir / f"{name}-{round_index}.log",
                        artifact=artifact,
                        receiver=receiver,
                        cpus=server_cpus,
                    )
                targets = {name: Target(name, urls[name] + INFER_PATH, V2_BODY) for name in names}
                for target in targets.values():  # first requests pay for imports and caches
                    run_wrk(target, args.concurrency, WARM_UP_SECONDS, workdir)
                # Each round starts one server later: no server always runs first, or right after
                # the same neighbour (a server's leftovers, like its last log flush and span export,
                # run on the same CPU during the next server's turn).
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    before = cpu_seconds(pids[name])
                    result = run_wrk(targets[name], args.concurrency, args.duration, workdir)
                    cpu[name].append((cpu_seconds(pids[name]) - before) / max(result.rps * args.duration, 1))
                    results[name].append(result)
                with urlopen(urls["all"] + "/metrics") as response:
                    metrics = response.read().decode()
            # Stopped: each server flushed its access log and exported its queued spans on the way out.
            problems += (
                f"round {round_index + 1}: {problem}"
                for problem in lossless(workdir / f"all-{round_index}.log", metrics, receiver)
            )
        summary = {name: median_result(values) for name, values in results.items()}
        throughput = paired_ratios({name: [r.rps for r in values] for name, values in results.items()}, "none")
        # CPU time is a cost: none's over the server's, so that both columns read "throughput".
        cpu_ratio = paired_ratios({name: [1 / v for v in values] for name, values in cpu.items()}, "none")
        print(
            f"{'observing':>14} {'req/s':>9} {'vs none':>8} {'quartiles':>12} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'errors':>7} {'cpu us/req':>11} {'vs none':>8}"
        )
        for name, result in summary.items():
            ratio, low, high = throughput[name]
            print(
                f"{name:>14} {result.rps:>9.0f} {ratio:>8.3f} {f'{low:.3f}-{high:.3f}':>12} {result.p50_ms:>8.2f} "
                f"{result.p99_ms:>8.2f} {result.errors:>7} {statistics.median(cpu[name]) * 1e6:>11.1f} "
                f"{cpu_ratio[name][0]:>8.3f}",
                flush=True,
            )
        cost = 1 - throughput["all"][0]
        noise = abs(1 - throughput[CONTROL][0])
        print(
            f"  noise: {CONTROL}, identical to none, measured {noise:.1%} apart; all's rounds "
            f"{1 - throughput['all'][2]:.1%} to {1 - throughput['all'][1]:.1%} (quartiles)"
        )
        verdicts = [
            (f"all costs {cost:.1%} of none's throughput <= {MAX_COST:.0%}", cost <= MAX_COST),
            ("nothing dropped: " + ("; ".join(problems) or "every log line, metric and sampled span"), not problems),
            ("no errors", all(result.errors == 0 for result in summary.values())),
        ]
        for text, ok in verdicts:
            print(f"  {text}: {'PASS' if ok else 'FAIL'}")
    return 1 if args.check and not all(ok for _, ok in verdicts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
