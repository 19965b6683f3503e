"""The learning loop's data half against moto's S3: capture written by the service's own record
builder and labels as /feedback stores them, joined into a versioned dataset; a model trained on
that version records it; the champion/challenger gate passes a good challenger and refuses a bad
one or a window with too few labels, with reasons; the replay measures disagreement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sklearn.datasets import load_wine

from learning.__main__ import main as learning_main
from learning.comparison import GateRules, gate, replay
from learning.datasets import Window, build_dataset
from model_service.artifact import load_model
from model_service.capture import Served, capture_record
from model_service.cli import main as model_service_main
from model_service.dataset_format import DatasetError, read_dataset
from model_service.training import TrainingOptions, train

CAPTURE = "capture"
DATASETS = "datasets"
CAPTURE_PREFIX = "cluster/model-service"
TRUTH_PREFIX = "ground-truth/cluster/model-service"
END = datetime(2026, 12, 6, 12, tzinfo=UTC)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (CAPTURE, DATASETS):
            client.create_bucket(Bucket=bucket)
        yield client


def _put_lines(s3: Any, key: str, documents: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(document) + "\n" for document in documents).encode()
    s3.put_object(Bucket=CAPTURE, Key=key, Body=body)


def _traffic(s3: Any, requests: int, labelled: int, *, at: datetime = END - timedelta(hours=2)) -> list[list[float]]:
    """`requests` captured single-row requests of wine rows, the first `labelled` of them labelled
    (their true class), one of those labelled twice; plus one request outside the window."""
    wine = load_wine()
    order = np.random.default_rng(3).permutation(len(wine.data))[:requests]
    records, labels, rows = [], [], []
    for n, index in enumerate(order):
        row = [float(v) for v in wine.data[index]]
        rows.append(row)
        served = Served(f"req-{n}", [row], "v1", ["class_0"], [[1.0, 0.0, 0.0]], f"fb-{n}", at.timestamp() + n)
        records.append(capture_record(served))
        if n < labelled:
            labels.append({"feedback_id": f"fb-{n}", "labels": [str(wine.target_names[wine.target[index]])]})
    old = Served(
        "req-old", [rows[0]], "v1", ["class_0"], [[1.0, 0.0, 0.0]], "fb-old", (END - timedelta(days=30)).timestamp()
    )
    _put_lines(s3, f"{CAPTURE_PREFIX}/{at:%Y/%m/%d/%H}/pod-a-000001.jsonl", records)
    _put_lines(s3, f"{CAPTURE_PREFIX}/{END - timedelta(days=30):%Y/%m/%d/%H}/pod-a-000001.jsonl", [capture_record(old)])
    _put_lines(s3, f"{TRUTH_PREFIX}/{at:%Y/%m/%d/%H}/pod-a-000001.jsonl", labels + labels[:1])
    _put_lines(
        s3, f"{TRUTH_PREFIX}/{at:%Y/%m/%d/%H}/pod-a-000002.jsonl", [{"feedback_id": "fb-old", "labels": ["class_1"]}]
    )
    return rows


def _build(s3: Any, include_reference: bool = True) -> Any:
    return build_dataset(
        s3,
        capture_bucket=CAPTURE,
        capture_prefix=CAPTURE_PREFIX,
        ground_truth_prefix=TRUTH_PREFIX,
        window=Window(END - timedelta(days=7), END),
        datasets_bucket=DATASETS,
        datasets_prefix="wine",
        include_reference=include_reference,
    )


def _download(s3: Any, manifest: Any, directory: Path) -> Path:
    directory.mkdir()
    prefix = manifest.uri.removeprefix(f"s3://{DATASETS}/")
    for name in ("data.csv", "manifest.json"):
        s3.download_file(DATASETS, prefix + name, str(directory / name))
    return directory


def test_a_dataset_joins_the_windows_labelled_capture_and_keeps_the_reference(s3: Any, tmp_path: Path) -> None:
    _traffic(s3, requests=80, labelled=60)
    manifest = _build(s3)
    assert (manifest.captured_requests, manifest.captured_rows, manifest.labelled_rows) == (80, 80, 60)
    assert manifest.reference_rows == 178 and manifest.label_coverage == 0.75
    assert manifest.version.startswith("20261206T120000Z-") and manifest.version.endswith(manifest.sha256[:8])
    assert sum(manifest.class_counts.values()) == manifest.rows == 238
    dataset = read_dataset(_download(s3, manifest, tmp_path / "version"))
    production = dataset.only("production")
    assert len(production.labels) == 60 and dataset.manifest["version"] == manifest.version
    wine = load_wine()
    truth = {
        tuple(row): str(wine.target_names[label]) for row, label in zip(wine.data.tolist(), wine.target, strict=True)
    }
    assert all(truth[tuple(row)] == label for row, label in zip(production.features, production.labels, strict=True))
    # The same window gives the same version: nothing is overwritten with other rows.
    assert _build(s3).version == manifest.version


def test_a_tampered_dataset_is_refused_and_training_records_the_version_it_read(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _traffic(s3, requests=80, labelled=60)
    manifest = _build(s3)
    directory = _download(s3, manifest, tmp_path / "version")
    artifact = train(TrainingOptions(output=tmp_path / "models", dataset=directory))
    metadata = json.loads((artifact / "metadata.json").read_text())
    assert metadata["training"]["dataset"] == manifest.uri
    assert metadata["metrics"]["train_rows"] + metadata["metrics"]["test_rows"] == 238
    (directory / "data.csv").write_text((directory / "data.csv").read_text().replace("class_1", "class_2", 1))
    with pytest.raises(DatasetError, match="does not match its manifest's sha256"):
        train(TrainingOptions(output=tmp_path / "again", dataset=directory))
    assert model_service_main(["train", "--output", str(tmp_path / "cli"), "--dataset", str(directory)]) == 2
    assert not (tmp_path / "cli").exists()
    assert "does not match its manifest's sha256" in capsys.readouterr().err


@pytest.fixture(scope="module")
def champion(artifact: Path) -> Any:
    return load_model(artifact)


class Constant:
    """A challenger that always answers one class (what a broken retrain can look like)."""

    version = "constant"
    class_names = ("class_0", "class_1", "class_2")

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.tile([0.0, 1.0, 0.0], (len(rows), 1))


def test_the_gate_passes_an_equal_challenger_and_refuses_a_worse_one_with_reasons(
    s3: Any, champion: Any, tmp_path: Path
) -> None:
    rows = _traffic(s3, requests=80, labelled=60)
    production = read_dataset(_download(s3, _build(s3), tmp_path / "version")).only("production")
    rules = GateRules(min_labelled_rows=50)
    report = gate(champion, champion, production.features, production.labels, rules)
    assert report.passed and report.reasons == [] and report.challenger == report.champion
    refused = gate(Constant(), champion, production.features, production.labels, rules)
    assert not refused.passed
    text = " | ".join(refused.reasons)
    assert "below the minimum" in text and "below the champion's" in text and "recall of class_0 drops" in text
    replayed = replay(champion, Constant(), rows)
    assert replayed.rows == 80 and replayed.challenger_shares["class_1"] == 1.0
    assert replayed.disagreement == pytest.approx(1 - replayed.champion_shares["class_1"])
    assert replay(champion, champion, rows).disagreement == 0.0


def test_too_few_labels_refuse_the_gate_with_the_reason(s3: Any, champion: Any, tmp_path: Path) -> None:
    _traffic(s3, requests=80, labelled=10)
    production = read_dataset(_download(s3, _build(s3), tmp_path / "version")).only("production")
    report = gate(champion, champion, production.features, production.labels, GateRules(min_labelled_rows=50))
    assert not report.passed
    assert report.reasons == [
        "only 10 labelled production rows in the window; the gate needs at least 50 (wait for labels, widen "
        "the window, or lower min_labelled_rows deliberately)"
    ]


def test_the_cli_builds_compares_and_exits_3_when_the_gate_refuses(
    s3: Any, artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _traffic(s3, requests=80, labelled=60)
    end = END.isoformat().replace("+00:00", "Z")
    common = ["--capture-uri", f"s3://{CAPTURE}/{CAPTURE_PREFIX}"]
    built = [
        "dataset",
        *common,
        "--ground-truth-uri",
        f"s3://{CAPTURE}/{TRUTH_PREFIX}",
        "--to",
        f"s3://{DATASETS}/wine",
    ]
    assert learning_main([*built, "--end", end]) == 0
    manifest = json.loads(capsys.readouterr().out)
    compare = [
        "compare",
        "--challenger",
        str(artifact),
        "--champion",
        str(artifact),
        "--dataset",
        manifest["uri"],
        *common,
    ]
    report = tmp_path / "report.json"
    assert learning_main([*compare, "--json", str(report)]) == 0
    document = json.loads(report.read_text())
    assert (
        document["gate"]["passed"] and document["replay"]["rows"] == 80 and document["dataset"] == manifest["version"]
    )
    assert learning_main([*compare, "--min-labelled-rows", "100"]) == 3
    assert "only 60 labelled production rows" in capsys.readouterr().out
    assert learning_main([*built, "--end", "2026-12-06T12:00:00"]) == 2
    assert "needs a timezone" in capsys.readouterr().err


def test_a_first_model_without_labels_is_scored_on_the_reference_rows(
    s3: Any, artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing serves yet and production has few labels: the seed model is scored on the dataset's
    reference rows (with a champion, the same window is refused: see the test above)."""
    _traffic(s3, requests=80, labelled=10)
    end = END.isoformat().replace("+00:00", "Z")
    truth = f"s3://{CAPTURE}/{TRUTH_PREFIX}"
    built = ["dataset", "--capture-uri", f"s3://{CAPTURE}/{CAPTURE_PREFIX}", "--ground-truth-uri", truth]
    assert learning_main([*built, "--to", f"s3://{DATASETS}/wine", "--end", end]) == 0
    manifest = json.loads(capsys.readouterr().out)
    report = tmp_path / "report.json"
    compare = ["compare", "--challenger", str(artifact), "--dataset", manifest["uri"], "--json", str(report)]
    assert learning_main(compare) == 0
    document = json.loads(report.read_text())
    assert document["scored_on"] == "reference" and document["gate"]["challenger"]["rows"] == 178
    assert "scored on the reference rows" in capsys.readouterr().out
    assert learning_main([*compare, "--champion", str(artifact)]) == 3
