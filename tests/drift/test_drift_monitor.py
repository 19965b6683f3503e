"""The drift Lambda against moto (S3 and CloudWatch stand in for AWS): a captured window with a
shifted feature gives the PSI an independent computation gives, labels give the accuracy, an
empty window publishes nothing; and the pods' binning is the contract's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sklearn.datasets import load_wine

from drift_monitor import handler
from model_service import drift_contract
from model_service.drift import BinCounter, DriftReference

WINE = load_wine()
ENDPOINT = "mlops-dev-wine"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, artifact: Path) -> Iterator[Any]:
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ENDPOINT_NAME": ENDPOINT,
        "CAPTURE_BUCKET": "capture",
        "CAPTURE_PREFIXES": f"{ENDPOINT}/primary,{ENDPOINT}/proxy",
        "GROUND_TRUTH_PREFIX": f"ground-truth/sagemaker/{ENDPOINT}",
        "MODEL_ARCHIVE_URI": "s3://models/wine/v1/model.tar.gz",
        "WINDOW_MINUTES": "60",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        for cached in (handler.s3_client, handler.cloudwatch_client, handler.drift_reference):
            cached.cache_clear()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="capture")
        s3.create_bucket(Bucket="models")
        s3.put_object(Bucket="models", Key="wine/v1/model.tar.gz", Body=(artifact / "model.tar.gz").read_bytes())
        yield s3


def _capture(rows: np.ndarray, labels: list[str]) -> bytes:
    lines = []
    for start in range(0, len(rows), 10):
        chunk = rows[start : start + 10]
        output = {"predictions": [{"label": label} for label in labels[start : start + 10]]}
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "application/json",
                            "mode": "INPUT",
                            "data": json.dumps({"instances": chunk.tolist()}),
                            "encoding": "JSON",
                        },
                        "endpointOutput": {
                            "observedContentType": "application/json",
                            "mode": "OUTPUT",
                            "data": json.dumps(output),
                            "encoding": "JSON",
                        },
                    },
                    "eventMetadata": {"eventId": str(start)},
                    "eventVersion": "0",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _reference(artifact: Path) -> dict[str, Any]:
    return json.loads((artifact / "drift_reference.json").read_text())


def _independent_psi(values: np.ndarray, edges: list[float], shares: list[float]) -> float:
    """numpy's own binning (right-closed intervals, as the reference defines them) and the formula."""
    bounds = zip([-np.inf, *edges], [*edges, np.inf], strict=True)
    counts = np.array([np.sum((values > low) & (values <= high)) for low, high in bounds])
    actual = np.maximum(counts / counts.sum(), 1e-4)
    expected = np.maximum(np.asarray(shares), 1e-4)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def test_a_shifted_feature_gives_the_independently_computed_psi_and_accuracy_from_labels(
    aws: Any, artifact: Path
) -> None:
    rng = np.random.default_rng(3)
    rows = WINE.data[rng.integers(0, len(WINE.data), 400)] * rng.normal(1.0, 0.01, (400, 13))
    rows[:, 0] += WINE.data[:, 0].std()  # +1 sigma of alcohol
    labels = ["class_0"] * 400
    hour = f"{_now_after_uploads():%Y/%m/%d/%H}"
    aws.put_object(Bucket="capture", Key=f"{ENDPOINT}/primary/{hour}/a.jsonl", Body=_capture(rows[:300], labels[:300]))
    aws.put_object(Bucket="capture", Key=f"{ENDPOINT}/proxy/{hour}/b.jsonl", Body=_capture(rows[300:], labels[300:]))
    truth = [{"labels": ["class_0"] * 5, "predicted": ["class_0"] * 4 + ["class_1"]} for _ in range(12)]
    aws.put_object(
        Bucket="capture",
        Key=f"ground-truth/sagemaker/{ENDPOINT}/{hour}/labels.jsonl",
        Body="\n".join(json.dumps(item) for item in truth).encode(),
    )
    metrics = handler.evaluate(handler.Settings.from_env(), _now_after_uploads())
    values = {(m["MetricName"], tuple(d["Value"] for d in m["Dimensions"][1:])): m["Value"] for m in metrics}
    reference = _reference(artifact)
    alcohol = reference["features"][0]
    expected = _independent_psi(rows[:, 0], alcohol["edges"], alcohol["shares"])
    assert values[("FeaturePSI", ("alcohol",))] == pytest.approx(expected, rel=1e-9)
    assert values[("FeaturePSI", ("alcohol",))] > 0.25  # well past the critical threshold
    assert values[("MaxFeaturePSI", ())] == values[("FeaturePSI", ("alcohol",))]
    assert values[("CapturedRows", ())] == 400
    assert values[("LabelledRows", ())] == 60 and values[("Accuracy", ())] == pytest.approx(0.8)
    handler.publish(metrics, _now_after_uploads())
    listed = boto3.client("cloudwatch").list_metrics(Namespace=handler.NAMESPACE)["Metrics"]
    # Every metric the contract names, and no other.
    assert {m["MetricName"] for m in listed} == set(drift_contract.CLOUDWATCH_METRICS)


def _now_after_uploads() -> datetime:
    """The window ends now (moto stamps objects with the real time), in the hour the test wrote to."""
    return datetime.now(UTC)


def test_an_empty_window_publishes_nothing_and_is_no_error(aws: Any) -> None:
    result = handler.handle({}, None)
    assert result == {"metrics": 0}
    assert boto3.client("cloudwatch").list_metrics(Namespace=handler.NAMESPACE)["Metrics"] == []


def test_the_pods_bin_counter_follows_the_contract(artifact: Path) -> None:
    reference = DriftReference.from_json(_reference(artifact))
    rng = np.random.default_rng(5)
    rows = WINE.data[rng.integers(0, len(WINE.data), 500)] * rng.normal(1.0, 0.05, (500, 13))
    # Values exactly on an edge belong to the bin below it, in both.
    rows[:13, 0] = reference.features[0].edges[0]
    counter = BinCounter(reference)
    counter.add(rows)
    for index, feature in enumerate(reference.features):
        contract = drift_contract.bin_counts(rows[:, index].tolist(), feature.edges)
        assert counter.counts[index, : feature.bin_count].tolist() == contract


def _alarm_state(alarm: dict[str, Any], datapoints: list[float]) -> str:
    """CloudWatch's verdict for a static-threshold alarm on the latest evaluation periods."""
    periods = int(alarm["evaluationPeriods"])
    recent = datapoints[-periods:]
    if len(recent) < periods:
        return "INSUFFICIENT_DATA"
    breaching = {
        "GreaterThanThreshold": lambda value: value > alarm["threshold"],
        "LessThanThreshold": lambda value: value < alarm["threshold"],
    }[alarm["comparisonOperator"]]
    return "ALARM" if sum(map(breaching, recent)) >= alarm["datapointsToAlarm"] else "OK"


def test_the_stacks_alarms_go_off_on_what_the_monitor_publishes_for_a_shift_and_not_for_stationary_data(
    aws: Any, artifact: Path
) -> None:
    from model_service.artifact import load_model
    from tests.support.pulumi_harness import run_program

    model = load_model(artifact)

    stack = run_program("dev", overrides={"modelVersion": "v1"})
    alarms = {
        r.inputs["metricName"]: r.inputs
        for r in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if r.inputs.get("namespace") == handler.NAMESPACE
    }
    assert set(alarms) == {"MaxFeaturePSI", "PredictionPSI", "Accuracy"}
    rng = np.random.default_rng(9)
    published: dict[str, dict[str, list[float]]] = {"stationary": {}, "shifted": {}}
    for case, values in published.items():
        for period in range(2):  # two scheduled runs, each over its own captured window
            rows = WINE.data[rng.integers(0, len(WINE.data), 600)] * rng.normal(1.0, 0.01, (600, 13))
            if case == "shifted":
                rows[:, 0] += WINE.data[:, 0].std()
            hour = f"{_now_after_uploads():%Y/%m/%d/%H}"
            key = f"{ENDPOINT}/proxy/{hour}/{case}-{period}.jsonl"
            predicted = [model.class_names[i] for i in model.predict_proba(rows).argmax(axis=1)]
            aws.put_object(Bucket="capture", Key=key, Body=_capture(rows, predicted))
            metrics = handler.evaluate(handler.Settings.from_env(), _now_after_uploads())
            aws.delete_object(Bucket="capture", Key=key)
            for item in metrics:
                if len(item["Dimensions"]) == 1:
                    values.setdefault(item["MetricName"], []).append(item["Value"])
    feature = alarms["MaxFeaturePSI"]
    assert _alarm_state(feature, published["shifted"]["MaxFeaturePSI"]) == "ALARM"
    assert _alarm_state(feature, published["stationary"]["MaxFeaturePSI"]) == "OK"
    prediction = alarms["PredictionPSI"]
    assert _alarm_state(prediction, published["stationary"]["PredictionPSI"]) == "OK"
    # No labels in the window: no Accuracy datapoint, so that alarm has nothing to judge.
    assert "Accuracy" not in published["stationary"]
