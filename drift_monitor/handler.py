"""Scheduled Lambda: drift and accuracy of a SageMaker endpoint, from what it captured.

Every run (EventBridge) reads the last `WINDOW_MINUTES` of captured requests (SageMaker's own
capture and the proxy's, both in the data-capture layout) and the labels kept for the endpoint,
and applies the drift contract (model_service/drift_contract.py, shipped beside this file: the
same binning and statistics the pods' rules use) against the drift reference of the served model
(drift_reference.json inside its model.tar.gz). It publishes to CloudWatch, namespace
`MLOps/ModelQuality`, dimension `EndpointName` (and `Feature`): `FeaturePSI`, `FeatureKS`,
`MaxFeaturePSI`, `PredictionPSI`, `CapturedRows`, and, with enough labels, `Accuracy` and
`LabelledRows`. Accuracy needs no join: a label record carries the prediction its signed feedback
id held. A window with no rows publishes nothing and is not an error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from model_service.capture_format import captured_bodies, hour_prefixes
from model_service.drift_contract import CLOUDWATCH_NAMESPACE as NAMESPACE
from model_service.drift_contract import window_report

MIN_ROWS = 200
MIN_LABELS = 50
REFERENCE_FILE = "drift_reference.json"


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    capture_bucket: str
    capture_prefixes: tuple[str, ...]
    ground_truth_prefix: str
    model_archive_uri: str
    window_minutes: int = 60

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            endpoint_name=env["ENDPOINT_NAME"],
            capture_bucket=env["CAPTURE_BUCKET"],
            capture_prefixes=tuple(p.strip("/") for p in env["CAPTURE_PREFIXES"].split(",") if p.strip("/")),
            ground_truth_prefix=env.get("GROUND_TRUTH_PREFIX", "").strip("/"),
            model_archive_uri=env["MODEL_ARCHIVE_URI"],
            window_minutes=int(env.get("WINDOW_MINUTES", "60")),
        )


@cache
def s3_client() -> Any:
    return boto3.client("s3", config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}))


@cache
def cloudwatch_client() -> Any:
    return boto3.client("cloudwatch", config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}))


@cache
def drift_reference(model_archive_uri: str) -> dict[str, Any]:
    """drift_reference.json from the served model's archive (read once per container)."""
    bucket, _, key = model_archive_uri.removeprefix("s3://").partition("/")
    archive = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(REFERENCE_FILE)
        if member is None:
            raise ValueError(f"{model_archive_uri} has no {REFERENCE_FILE}")
        return json.loads(member.read())


def read_lines(bucket: str, prefixes: list[str], start: datetime) -> list[dict[str, Any]]:
    """Every JSON line of the objects under `prefixes` written since `start`."""
    records = []
    paginator = s3_client().get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["LastModified"] < start:
                    continue
                body = s3_client().get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for line in body.splitlines():
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except ValueError:
                            log("WARNING", "unreadable line", key=item["Key"])
    return records


def rows_and_predictions(record: dict[str, Any]) -> tuple[list[list[float]], list[str]]:
    """The rows a captured request sent and the classes predicted for them."""
    request, response, content_type = captured_bodies(record)
    if content_type.startswith("text/csv"):
        rows = [[float(cell) for cell in line] for line in csv.reader(io.StringIO(request)) if line]
    else:
        document = json.loads(request)
        rows = document.get("instances", document) if isinstance(document, dict) else document
        if rows and not isinstance(rows[0], list):
            rows = [rows]
    answer = json.loads(response)
    predicted = [prediction["label"] for prediction in answer.get("predictions", [])]
    return rows, predicted


def metric(name: str, value: float, endpoint: str, **dimensions: str) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Value": value,
        "Unit": "Count" if name.endswith("Rows") else "None",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}]
        + [{"Name": key, "Value": value} for key, value in dimensions.items()],
    }


def evaluate(config: Settings, now: datetime) -> list[dict[str, Any]]:
    """The metrics for the window that ends `now`."""
    start = now - timedelta(minutes=config.window_minutes)
    prefixes = [p for prefix in config.capture_prefixes for p in hour_prefixes(prefix, start, now)]
    rows: list[list[float]] = []
    predicted: list[str] = []
    for record in read_lines(config.capture_bucket, prefixes, start):
        try:
            record_rows, record_predicted = rows_and_predictions(record)
        except (KeyError, ValueError, TypeError):
            log("WARNING", "unreadable capture record")
            continue
        rows += record_rows
        predicted += record_predicted
    metrics = []
    endpoint = config.endpoint_name
    if rows:
        report = window_report(rows, predicted, drift_reference(config.model_archive_uri))
        metrics.append(metric("CapturedRows", report["rows"], endpoint))
        if report["rows"] >= MIN_ROWS:
            for feature, values in report["features"].items():
                metrics.append(metric("FeaturePSI", values["psi"], endpoint, Feature=feature))
                metrics.append(metric("FeatureKS", values["ks"], endpoint, Feature=feature))
            metrics.append(metric("MaxFeaturePSI", max(v["psi"] for v in report["features"].values()), endpoint))
            metrics.append(metric("PredictionPSI", report["prediction_psi"], endpoint))
    if config.ground_truth_prefix:
        labelled = correct = 0
        for record in read_lines(config.capture_bucket, hour_prefixes(config.ground_truth_prefix, start, now), start):
            truth, guess = record.get("labels", []), record.get("predicted", [])
            labelled += len(truth)
            correct += sum(1 for true, predicted_class in zip(truth, guess, strict=False) if true == predicted_class)
        if labelled:
            metrics.append(metric("LabelledRows", labelled, endpoint))
        if labelled >= MIN_LABELS:
            metrics.append(metric("Accuracy", correct / labelled, endpoint))
    return metrics


def publish(metrics: list[dict[str, Any]], now: datetime) -> None:
    for start in range(0, len(metrics), 20):  # PutMetricData takes 1000, but keep requests small
        batch = [{**item, "Timestamp": now} for item in metrics[start : start + 20]]
        cloudwatch_client().put_metric_data(Namespace=NAMESPACE, MetricData=batch)


def log(level: str, message: str, **fields: Any) -> None:
    line = {"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "message": message}
    sys.stdout.write(json.dumps({**line, **fields}) + "\n")
    sys.stdout.flush()


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (an EventBridge schedule)."""
    config = Settings.from_env()
    now = datetime.now(UTC)
    metrics = evaluate(config, now)
    publish(metrics, now)
    summary = {item["MetricName"]: item["Value"] for item in metrics if len(item["Dimensions"]) == 1}
    log("INFO", "window evaluated", endpoint=config.endpoint_name, metrics=len(metrics), **summary)
    return {"metrics": len(metrics), **summary}
