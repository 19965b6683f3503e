"""Versioned training datasets from production: captured requests joined with the labels sent for
them, plus the reference (bundled) data, written as one CSV and a manifest to the datasets bucket.

Capture and labels are the model service's JSON Lines objects (model_service/capture.py), hourly
partitions under their prefixes; a captured request carries the `feedback_id` its label names.
A version is named after its window's end and the hash of its content, so the same data always
gets the same version and a dataset is never overwritten by different rows. Training reads a
version back (`model_service.dataset_format.read_dataset`) and checks the hash before it trusts it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from model_service.capture import parse_s3_uri
from model_service.capture_format import captured_bodies, hour_prefixes
from model_service.dataset_format import DATA_FILE, MANIFEST_FILE, DatasetError, dataset_csv

# Most JSON Lines objects one build reads (a window of a busy endpoint should be sampled, not read whole).
MAX_OBJECTS = 20_000


@dataclass(frozen=True)
class Window:
    """Requests captured in [start, end); labels for them may arrive until `end + label_grace`."""

    start: datetime
    end: datetime
    label_grace: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise DatasetError("window bounds must be timezone-aware (UTC)")
        if self.start >= self.end:
            raise DatasetError(f"window start {self.start:%Y-%m-%dT%H:%M:%SZ} is not before its end")


@dataclass(frozen=True)
class LabelledRow:
    features: list[float]
    label: str
    source: str


def _json_lines(s3: Any, bucket: str, prefixes: Sequence[str]) -> Iterator[dict[str, Any]]:
    objects = 0
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects += 1
                if objects > MAX_OBJECTS:
                    raise DatasetError(f"more than {MAX_OBJECTS} objects in the window: narrow it")
                for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines():
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue  # a torn line is skipped, not trusted


def _captured(record: dict[str, Any], start: datetime, end: datetime) -> tuple[str, list[list[float]]] | None:
    """(feedback id, rows) of a capture record of the window, or None."""
    try:
        at = datetime.fromisoformat(record["eventMetadata"]["inferenceTime"].replace("Z", "+00:00"))
        if not start <= at < end:
            return None
        request, response, _ = captured_bodies(record)
        rows = json.loads(request)["instances"]
        feedback_id = json.loads(response)["feedback_id"]
    except (KeyError, TypeError, ValueError):
        return None
    return (feedback_id, rows) if isinstance(feedback_id, str) else None


@dataclass(frozen=True)
class Manifest:
    version: str
    uri: str
    window_start: str
    window_end: str
    captured_requests: int
    captured_rows: int
    labelled_rows: int
    reference_rows: int
    label_coverage: float
    class_counts: dict[str, int]
    feature_names: list[str]
    sha256: str

    @property
    def rows(self) -> int:
        return self.labelled_rows + self.reference_rows

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "rows": self.rows}


def captured_rows(s3: Any, bucket: str, capture_prefix: str, window: Window) -> list[list[float]]:
    """Every row captured in the window, labelled or not (what a replay sends to both models)."""
    rows: list[list[float]] = []
    for record in _json_lines(s3, bucket, hour_prefixes(capture_prefix, window.start, window.end)):
        found = _captured(record, window.start, window.end)
        if found is not None:
            rows += [list(map(float, row)) for row in found[1]]
    return rows


def production_rows(
    s3: Any, bucket: str, capture_prefix: str, ground_truth_prefix: str, window: Window
) -> tuple[list[LabelledRow], int, int]:
    """Captured rows of the window that have a label, with (captured requests, captured rows)."""
    captured: dict[str, list[list[float]]] = {}
    for record in _json_lines(s3, bucket, hour_prefixes(capture_prefix, window.start, window.end)):
        found = _captured(record, window.start, window.end)
        if found is not None:
            captured[found[0]] = found[1]
    labelled: list[LabelledRow] = []
    seen: set[str] = set()
    label_end = window.end + window.label_grace
    for label in _json_lines(s3, bucket, hour_prefixes(ground_truth_prefix, window.start, label_end)):
        feedback_id = label.get("feedback_id")
        if not isinstance(feedback_id, str) or feedback_id in seen:
            continue  # a repeated label (the service refuses them; a replayed object may not) counts once
        rows = captured.get(feedback_id)
        labels = label.get("labels")
        if rows is None or not isinstance(labels, list) or len(labels) != len(rows):
            continue
        seen.add(feedback_id)
        labelled += [
            LabelledRow(list(map(float, row)), str(value), "production")
            for row, value in zip(rows, labels, strict=True)
        ]
    return labelled, len(captured), sum(len(rows) for rows in captured.values())


def reference_rows() -> tuple[list[str], list[LabelledRow]]:
    """The bundled wine data set: what every dataset keeps, so a quiet week cannot erase a class."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    names = [str(name) for name in wine.target_names]
    rows = [
        LabelledRow([float(v) for v in row], names[label], "reference")
        for row, label in zip(wine.data, wine.target, strict=True)
    ]
    return [str(name) for name in wine.feature_names], rows


def build_dataset(
    s3: Any,
    *,
    capture_bucket: str,
    capture_prefix: str,
    ground_truth_prefix: str,
    window: Window,
    datasets_bucket: str,
    datasets_prefix: str,
    include_reference: bool = True,
) -> Manifest:
    """Join, write `<datasets_prefix>/<version>/data.csv` and `manifest.json`; return the manifest."""
    feature_names, reference = reference_rows()
    labelled, requests, captured_rows = production_rows(s3, capture_bucket, capture_prefix, ground_truth_prefix, window)
    widths = {len(row.features) for row in labelled}
    if widths - {len(feature_names)}:
        raise DatasetError(f"captured rows have {sorted(widths)} features; the model takes {len(feature_names)}")
    rows = labelled + (reference if include_reference else [])
    if not rows:
        raise DatasetError("no labelled rows in the window and no reference data: nothing to train on")
    body = dataset_csv(feature_names, [(row.features, row.label, row.source) for row in rows])
    digest = hashlib.sha256(body).hexdigest()
    version = f"{window.end.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}"
    prefix = f"{datasets_prefix.strip('/')}/{version}"
    manifest = Manifest(
        version=version,
        uri=f"s3://{datasets_bucket}/{prefix}/",
        window_start=window.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        window_end=window.end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        captured_requests=requests,
        captured_rows=captured_rows,
        labelled_rows=len(labelled),
        reference_rows=len(rows) - len(labelled),
        label_coverage=round(len(labelled) / captured_rows, 4) if captured_rows else 0.0,
        class_counts=dict(sorted(Counter(row.label for row in rows).items())),
        feature_names=feature_names,
        sha256=digest,
    )
    s3.put_object(Bucket=datasets_bucket, Key=f"{prefix}/{DATA_FILE}", Body=body, ContentType="text/csv")
    s3.put_object(
        Bucket=datasets_bucket,
        Key=f"{prefix}/{MANIFEST_FILE}",
        Body=json.dumps(manifest.to_json(), indent=2).encode(),
        ContentType="application/json",
    )
    return manifest


def download_dataset(s3: Any, uri: str, directory: Path) -> Path:
    """Fetch `s3://bucket/prefix/<version>/` into `directory`; return it."""
    bucket, prefix = parse_s3_uri(uri)
    if not prefix:
        raise DatasetError(f"a dataset version is s3://bucket/prefix/<version>/, got {uri!r}")
    directory.mkdir(parents=True, exist_ok=True)
    for name in (DATA_FILE, MANIFEST_FILE):
        s3.download_file(bucket, f"{prefix}/{name}", str(directory / name))
    return directory
