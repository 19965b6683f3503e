"""/metrics: every documented family with its labels, bounded labels, and drift made visible.

PSI and KS are computed from the exported counters exactly as the recording rules do: live shares
from `model_feature_bin_total`, reference shares from `model_feature_reference_share`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_wine

from model_service.app import ModelServer
from model_service.drift import ks_distance, psi
from model_service.logs import AccessLog
from model_service.settings import Settings
from tests.support.model_server import RunningServer, send_rows, start_server
from tests.support.pulumi_harness import REPO

WINE = load_wine()
FEATURES = list(WINE.feature_names)


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, labels) from the README's metrics reference table."""
    section = (REPO / "README.md").read_text().split("### Metrics reference", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table = {}
    for row in rows:
        name, kind, labels = (cell.strip().strip("`") for cell in row.strip("|").split("|")[:3])
        table[name] = (kind, {label.strip("` ") for label in labels.split(",") if label.strip("` -")})
    return table


def scrape(client: httpx.Client) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(client.get("/metrics").text)}


@pytest.fixture
def fresh_server(artifact: Path, tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "server.log", MODEL_DIR=str(artifact), MAX_ROWS_PER_REQUEST="1024")
    yield server
    server.stop()


def test_every_documented_family_is_exported_with_its_type_and_labels(server: RunningServer) -> None:
    documented = documented_metrics()
    assert len(documented) >= 15
    with server.client() as client:
        client.post("/invocations", json=[WINE.data[0].tolist()])
        families = scrape(client)
    for name, (kind, labels) in documented.items():
        family = families.get(name)
        assert family is not None, f"{name} is documented but not exported"
        assert family.type == kind, name
        seen = {key for sample in family.samples for key in sample.labels}
        if kind == "histogram":
            seen -= {"le"}
        assert seen == labels, f"{name}: labels {seen} != documented {labels}"
    undocumented = {name for name in families if name.startswith("model")} - set(documented)
    assert not undocumented, f"exported but not documented: {undocumented}"


def test_labels_are_bounded(server: RunningServer) -> None:
    with server.client() as client:
        for index in range(20):
            client.post("/invocations", json=[WINE.data[index].tolist()], headers={"x-request-id": f"unique-{index}"})
        text = client.get("/metrics").text
    assert "unique-" not in text
    assert not re.search(r'="\d+\.\d{3,}', text.replace('le="', "")), "a raw value leaked into a label"


def test_every_bin_of_every_feature_exists_before_any_request(artifact: Path) -> None:
    app = ModelServer(Settings(model_dir=artifact), AccessLog(enabled=False))

    async def metrics_text() -> str:
        await app.load()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return (await client.get("/metrics")).text

    families = {f.name: f for f in text_string_to_metric_families(asyncio.run(metrics_text()))}
    bins = families["model_feature_bin"].samples
    shares = families["model_feature_reference_share"].samples
    assert {s.labels["feature"] for s in bins} == set(FEATURES)
    assert all(sample.value == 0 for sample in bins)
    by_feature = defaultdict(float)
    for sample in shares:
        by_feature[sample.labels["feature"]] += sample.value
    assert all(total == pytest.approx(1.0) for total in by_feature.values())
    assert len(bins) == len(shares)
    assert {s.labels["predicted_class"] for s in families["model_predictions"].samples} == {
        "class_0",
        "class_1",
        "class_2",
    }


def _drift(client: httpx.Client) -> tuple[dict[str, float], dict[str, float]]:
    """PSI and binned KS per feature, from the exported families."""
    families = scrape(client)
    live: dict[str, dict[int, float]] = defaultdict(dict)
    reference: dict[str, dict[int, float]] = defaultdict(dict)
    for sample in families["model_feature_bin"].samples:
        live[sample.labels["feature"]][int(sample.labels["bin"])] = sample.value
    for sample in families["model_feature_reference_share"].samples:
        reference[sample.labels["feature"]][int(sample.labels["bin"])] = sample.value
    psis, kss = {}, {}
    for feature in FEATURES:
        order = sorted(reference[feature])
        counts = [live[feature][i] for i in order]
        shares = [reference[feature][i] for i in order]
        psis[feature] = psi(counts, shares)
        kss[feature] = ks_distance(counts, shares)
    # The cumulative histogram and the reference CDF give the same KS distance.
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for sample in families["model_feature_value"].samples:
        if sample.name.endswith("_bucket"):
            buckets[sample.labels["feature"]].append((float(sample.labels["le"]), sample.value))
    cdf = {
        (s.labels["feature"], float(s.labels["le"])): s.value for s in families["model_feature_reference_cdf"].samples
    }
    for feature in FEATURES:
        total = max(count for _, count in buckets[feature])
        gap = max(abs(count / total - cdf[(feature, le)]) for le, count in buckets[feature])
        assert gap == pytest.approx(kss[feature], abs=1e-9)
    return psis, kss


def _training_like_rows(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = WINE.data[rng.integers(0, len(WINE.data), count)]
    return rows * rng.normal(1.0, 0.01, rows.shape)  # resampled training rows with 1% noise


def test_training_like_traffic_keeps_psi_low(fresh_server: RunningServer) -> None:
    with fresh_server.client() as client:
        send_rows(client, _training_like_rows(800, seed=1))
        psis, kss = _drift(client)
    assert max(psis.values()) < 0.1, psis
    assert max(kss.values()) < 0.1, kss


def test_shifted_traffic_raises_psi_of_the_shifted_feature_only(fresh_server: RunningServer) -> None:
    rows = _training_like_rows(800, seed=2)
    alcohol = FEATURES.index("alcohol")
    rows[:, alcohol] += 2 * WINE.data[:, alcohol].std()
    with fresh_server.client() as client:
        send_rows(client, rows)
        psis, kss = _drift(client)
    assert psis["alcohol"] > 0.25, psis
    assert kss["alcohol"] > 0.3, kss
    stable = {name: value for name, value in psis.items() if name != "alcohol"}
    assert max(stable.values()) < 0.1, stable


def test_batches_predictions_and_confidence_are_counted(fresh_server: RunningServer) -> None:
    with fresh_server.client() as client:
        send_rows(client, WINE.data[:100], per_request=100)
        families = scrape(client)
    predictions = {
        s.labels["predicted_class"]: s.value
        for s in families["model_predictions"].samples
        if s.name == "model_predictions_total"
    }
    assert sum(predictions.values()) == 100
    assert predictions["class_0"] == pytest.approx(np.sum(WINE.target[:100] == 0), abs=3)
    confidence = {s.name: s.value for s in families["model_prediction_confidence"].samples}
    assert confidence["model_prediction_confidence_count"] == 100
    batches = {s.name: s.value for s in families["model_service_batch_size"].samples}
    assert batches["model_service_batch_size_sum"] == 100
    requests = [
        s
        for s in families["model_service_requests"].samples
        if s.labels == {"route": "/v2/models/{name}/infer", "status_class": "2xx"}
    ]
    assert requests[0].value == 1
    info = families["model_info"].samples[0]
    assert info.labels["model_name"] == "wine-classifier" and info.value == 1


def test_non_finite_model_output_is_a_5xx_and_never_reaches_a_metric(artifact: Path, tmp_path: Path) -> None:
    # The range check off, so that values the model cannot handle reach it.
    server = start_server(tmp_path / "server.log", MODEL_DIR=str(artifact), FEATURE_RANGE_TOLERANCE="inf")
    try:
        with server.client() as client:
            poisoned = client.post("/invocations", json=[[1e308] * 13])
            assert poisoned.status_code == 500
            assert poisoned.json()["reason"] == "model_output_not_finite"
            huge = client.post("/invocations", json=[[1e300, *WINE.data[0][1:].tolist()]] * 3)
            fine = client.post("/invocations", json=[WINE.data[0].tolist()])
            assert fine.status_code == 200
            samples = [
                sample
                for family in text_string_to_metric_families(client.get("/metrics").text)
                for sample in family.samples
            ]
        assert all(math.isfinite(sample.value) for sample in samples), [
            s for s in samples if not math.isfinite(s.value)
        ]
        sums = {s.labels.get("feature"): s.value for s in samples if s.name == "model_feature_value_sum"}
        assert sums["alcohol"] <= 1e12 * 3 + 100  # clipped, whatever the model made of it
        five_xx = sum(  # of the requests above (readiness answers 503 while the model loads: not counted here)
            s.value
            for s in samples
            if s.name == "model_service_requests_total"
            and s.labels["status_class"] == "5xx"
            and s.labels["route"] == "/invocations"
        )
        assert five_xx == 1 + (huge.status_code >= 500)
    finally:
        server.stop()
