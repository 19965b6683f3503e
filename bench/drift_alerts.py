"""How fast the drift and accuracy alerts fire, and whether a stationary stream stays quiet:
`python -m bench.drift_alerts [--features all] [--hours 4]`.

Traffic is simulated minute by minute (5 requests/s of jittered wine rows, one row each), counted
by the pods' own code (model_service.drift.BinCounter, the served ONNX model for the predicted
classes) into the series the service exports, and written as a promtool unit test against the rule
file the chart ships. Prometheus' own rule engine (promtool) then evaluates every rule and alert in
rule time: a scenario asks for "no alert" at every minute, and the first minute promtool reports
an alert firing is the delay. Scenarios:
  stationary   --hours of unchanged traffic: no drift alert may fire (a false alarm otherwise)
  shift <f>    an hour of stationary traffic, then feature f moves by one standard deviation
  wrong labels an hour of correct labels, then 40% of labels wrong
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from model_service.artifact import LoadedModel, load_model
from model_service.drift import BinCounter
from monitoring import names
from monitoring.__main__ import RULE_FILE

ROWS_PER_MINUTE = 300  # 5 requests/s of one row
JITTER = 0.01  # each feature times N(1, 1%)
LABELS_PER_MINUTE = 60
WRONG_SHARE = 0.4
STATIONARY_MINUTES = 60
OBSERVE_MINUTES = 30
LABELS = 'job="model-service", namespace="models", instance="a"'


@dataclass(frozen=True)
class Scenario:
    name: str
    minutes: int
    # Called with the minute and the minute's rows; returns rows (shifted or not).
    shift: Callable[[int, np.ndarray], np.ndarray]
    wrong_from: int | None = None  # minute from which 40% of labels are wrong


def _series(name: str, labels: str, values: list[float]) -> dict[str, str]:
    return {"series": f"{name}{{{LABELS}{', ' + labels if labels else ''}}}", "values": " ".join(map(_num, values))}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def simulate(model: LoadedModel, data: np.ndarray, scenario: Scenario, seed: int) -> list[dict[str, str]]:
    """The input series of one scenario: cumulative counters sampled every minute."""
    rng = np.random.default_rng(seed)
    counter = BinCounter(model.drift)
    bins_over_time: list[np.ndarray] = [counter.counts.copy()]
    classes = np.zeros(len(model.class_names), dtype=np.int64)
    classes_over_time = [classes.copy()]
    feedback = {"correct": 0, "incorrect": 0}
    feedback_over_time = [dict(feedback)]
    for minute in range(scenario.minutes):
        rows = data[rng.integers(0, len(data), ROWS_PER_MINUTE)] * rng.normal(1.0, JITTER, (ROWS_PER_MINUTE, 13))
        rows = scenario.shift(minute, rows)
        counter.add(rows)
        predicted = model.predict_proba(rows).argmax(axis=1)
        classes += np.bincount(predicted, minlength=len(classes))
        wrong = scenario.wrong_from is not None and minute >= scenario.wrong_from
        incorrect = int(rng.binomial(LABELS_PER_MINUTE, WRONG_SHARE if wrong else 0.04))
        feedback["incorrect"] += incorrect
        feedback["correct"] += LABELS_PER_MINUTE - incorrect
        bins_over_time.append(counter.counts.copy())
        classes_over_time.append(classes.copy())
        feedback_over_time.append(dict(feedback))
    series = []
    samples = len(bins_over_time)
    for index, feature in enumerate(model.drift.features):
        label = f'feature="{feature.name}"'
        cumulative = [np.cumsum(counts[index, : feature.bin_count]) for counts in bins_over_time]
        for bin_index in range(feature.bin_count):
            values = [float(counts[index, bin_index]) for counts in bins_over_time]
            series.append(_series(names.FEATURE_BIN.series, f'{label}, bin="{bin_index}"', values))
            share = feature.shares[bin_index]
            series.append(
                _series(names.FEATURE_REFERENCE_SHARE.series, f'{label}, bin="{bin_index}"', [share] * samples)
            )
        reference_cdf = np.cumsum(feature.shares)
        for edge_index, edge in enumerate(feature.edges):
            le = f'le="{edge:g}"' if edge != int(edge) else f'le="{edge:.1f}"'
            values = [float(c[edge_index]) for c in cumulative]
            series.append(_series(names.FEATURE_VALUE.bucket, f"{label}, {le}", values))
            series.append(
                _series(names.FEATURE_REFERENCE_CDF.series, f"{label}, {le}", [reference_cdf[edge_index]] * samples)
            )
        totals = [float(c[-1]) for c in cumulative]
        series.append(_series(names.FEATURE_VALUE.bucket, f'{label}, le="+Inf"', totals))
        series.append(_series(names.FEATURE_VALUE.count, label, totals))
        series.append(_series(names.FEATURE_REFERENCE_CDF.series, f'{label}, le="+Inf"', [1.0] * samples))
    for class_index, class_name in enumerate(model.class_names):
        label = f'predicted_class="{class_name}"'
        series.append(_series(names.PREDICTIONS.series, label, [float(c[class_index]) for c in classes_over_time]))
        share = model.drift.class_shares.get(class_name, 0.0)
        series.append(_series(names.PREDICTION_REFERENCE_SHARE.series, label, [share] * samples))
    for outcome in names.FEEDBACK_OUTCOMES:
        values = [float(f[outcome]) for f in feedback_over_time]
        series.append(_series(names.FEEDBACK.series, f'outcome="{outcome}"', values))
    requests = [float(minute * ROWS_PER_MINUTE) for minute in range(samples)]
    series.append(_series(names.REQUESTS.series, 'route="/invocations", status_class="2xx"', requests))
    return series


ALERTS = (
    "ModelFeatureDriftWarning",
    "ModelFeatureDriftCritical",
    "ModelAccuracyDrop",
    "ModelPredictionDistributionShift",
)


def first_firing(series: list[dict[str, str]], alert: str, minutes: range, workdir: Path) -> dict[int, str]:
    """Minutes (of `minutes`) at which promtool finds `alert` firing, with what it found."""
    test = {
        "rule_files": [str(RULE_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": []} for minute in minutes
                ],
            }
        ],
    }
    path = workdir / f"{alert}.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 30))
    # promtool exits 1 when a case fails: here that is the measurement, not an error.
    command = ["promtool", "test", "rules", str(path)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    if result.returncode not in (0, 1) or ("FAILED" not in output and result.returncode != 0):
        raise RuntimeError(output[-2000:])
    firing = {}
    for match in re.finditer(r"alertname: (\w+), time: ([\dhms]+),\s*\n\s*exp:.*\n\s*got:(.*)", output):
        firing[_minutes(match.group(2))] = match.group(3).strip()
    return firing


def _minutes(duration: str) -> int:
    hours = re.search(r"(\d+)h", duration)
    minutes = re.search(r"(\d+)m", duration)
    return (int(hours.group(1)) * 60 if hours else 0) + (int(minutes.group(1)) if minutes else 0)


def _shifted(column: int, by: float, start: int) -> Callable[[int, np.ndarray], np.ndarray]:
    def shift(minute: int, rows: np.ndarray) -> np.ndarray:
        if minute >= start:
            rows = rows.copy()
            rows[:, column] += by
        return rows

    return shift


def scenarios(model: LoadedModel, data: np.ndarray, features: list[str], hours: float) -> Iterator[Scenario]:
    yield Scenario("stationary", int(hours * 60), lambda minute, rows: rows)
    sigma = data.std(axis=0)
    end = STATIONARY_MINUTES + OBSERVE_MINUTES
    for name in features:
        column = model.feature_names.index(name)
        yield Scenario(f"shift {name}", end, _shifted(column, float(sigma[column]), STATIONARY_MINUTES))
    yield Scenario("wrong labels", end, lambda minute, rows: rows, wrong_from=STATIONARY_MINUTES)


def run(model_dir: Path, features: list[str] | None = None, hours: float = 4.0, seed: int = 11) -> dict[str, object]:
    """Delay in minutes after the change for each scenario (None: never within the observed time),
    and the minutes at which the stationary stream raised an alert."""
    from sklearn.datasets import load_wine

    model = load_model(model_dir)
    data = load_wine().data
    chosen = list(model.feature_names) if features is None else features
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="drift-alerts-") as tmp:
        workdir = Path(tmp)
        for scenario in scenarios(model, data, chosen, hours):
            series = simulate(model, data, scenario, seed)
            if scenario.name == "stationary":
                false_alarms = {}
                for alert in ALERTS:
                    fired = first_firing(series, alert, range(10, scenario.minutes + 1, 5), workdir)
                    if fired:
                        false_alarms[alert] = sorted(fired)
                report["stationary"] = false_alarms
                continue
            alert = "ModelAccuracyDrop" if scenario.wrong_from is not None else "ModelFeatureDriftWarning"
            window = range(STATIONARY_MINUTES - 10, scenario.minutes + 1)
            fired = first_firing(series, alert, window, workdir)
            before = [minute for minute in fired if minute < STATIONARY_MINUTES]
            after = [minute - STATIONARY_MINUTES for minute in fired if minute >= STATIONARY_MINUTES]
            report[scenario.name] = {"delay_minutes": min(after) if after else None, "fired_before_change": before}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drift_alerts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--features", default="all", help="comma-separated feature names, or all")
    parser.add_argument("--hours", type=float, default=4.0, help="length of the stationary scenario")
    parser.add_argument("--target-minutes", type=int, default=15, help="the delay every change must fire within")
    args = parser.parse_args(argv)
    from model_service.training import TrainingOptions, train

    with tempfile.TemporaryDirectory(prefix="drift-model-") as tmp:
        artifact = train(TrainingOptions(output=Path(tmp)))
        features = None if args.features == "all" else args.features.split(",")
        report = run(artifact, features, args.hours)
    failures = 0
    print(f"rule time via promtool; {ROWS_PER_MINUTE // 60} rows/s, {LABELS_PER_MINUTE} labels/min, 1 min evaluation")
    print(
        f"stationary {args.hours:g} h: " + (f"FALSE ALARMS {report['stationary']}" if report["stationary"] else "quiet")
    )
    failures += bool(report["stationary"])
    for name, result in report.items():
        if name == "stationary":
            continue
        assert isinstance(result, dict)
        delay = result["delay_minutes"]
        ok = delay is not None and delay <= args.target_minutes and not result["fired_before_change"]
        failures += not ok
        shown = "never" if delay is None else f"{delay} min"
        print(f"{name:>40}: fires after {shown} {'PASS' if ok else 'FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
