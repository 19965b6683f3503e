"""The canary promotion step against a real Prometheus scraping a stable and canary model-service
processes serving the same traffic: a healthy canary is promoted; one that cannot serve (an error
burst) or that answers differently (a prediction shift) is rolled back, with the reason; too
little canary traffic decides nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_wine

from delivery.canary import CanaryRules, Decision, decide, main, measure
from model_service.dataset_format import dataset_csv
from model_service.training import TrainingOptions, train
from tests.support.model_server import RunningServer, start_server
from tests.support.prometheus import Prometheus, prometheus_scraping

INFER = "/v2/models/wine-classifier/infer"
RULES = CanaryRules(window="5m", min_canary_requests=100)


def _relabelled_model(workdir: Path) -> Path:
    """A model trained on wine data where most of class_0 is called class_1: it seldom answers class_0."""
    wine = load_wine()
    names = [str(n) for n in wine.target_names]
    rows = [
        (row, "class_1" if names[t] == "class_0" and i % 6 else names[t], "reference")
        for i, (row, t) in enumerate(zip(wine.data, wine.target, strict=True))
    ]
    directory = workdir / "dataset"
    directory.mkdir()
    body = dataset_csv([str(n) for n in wine.feature_names], rows)
    (directory / "data.csv").write_bytes(body)
    manifest = {
        "version": "relabelled",
        "uri": "s3://datasets/wine/relabelled/",
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return train(TrainingOptions(output=workdir / "models", dataset=directory, min_accuracy=0.0))


@pytest.fixture(scope="module")
def tracks(
    artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Prometheus, dict[str, RunningServer]]]:
    workdir = tmp_path_factory.mktemp("canary")
    servers = {
        "stable": start_server(workdir / "stable.log", MODEL_DIR=str(artifact)),
        "healthy": start_server(workdir / "healthy.log", MODEL_DIR=str(artifact)),
        # A canary whose model is missing: every prediction is a 503.
        "broken": start_server(
            workdir / "broken.log",
            wait_ready=False,
            MODEL_DIR=str(workdir / "missing"),
            MODEL_LOAD_ATTEMPTS="20",
            MODEL_LOAD_BACKOFF_SECONDS="30",
        ),
        "shifted": start_server(workdir / "shifted.log", MODEL_DIR=str(_relabelled_model(workdir))),
    }
    try:
        more = [(server, {"track": "canary", "variant": name}) for name, server in servers.items() if name != "stable"]
        with prometheus_scraping(servers["stable"], workdir, {"track": "stable"}, more) as prometheus:
            # Every counter is in Prometheus at zero before any traffic, as a new pod's would be.
            prometheus.wait_for(
                "every target scraped twice",
                lambda: len(prometheus.query("count_over_time(up[1m]) >= 2")) == len(servers),
                timeout=30,
            )
            wine = load_wine()
            rows = wine.data[np.random.default_rng(5).permutation(len(wine.data))][:150]
            with httpx.Client(timeout=10) as client:
                for row in rows:
                    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 13], "data": row.tolist()}]}
                    for server in servers.values():
                        client.post(server.url + INFER, json=body)
            expected = 150 * 4
            total = 'sum(model_service_requests_total{route="/v2/models/{name}/infer"})'
            prometheus.wait_for(
                "every request scraped",
                lambda: (r := prometheus.query(total)) and float(r[0]["value"][1]) >= expected,
                timeout=30,
            )
            yield prometheus, servers
    finally:
        for server in servers.values():
            server.stop()


def _decision(prometheus: Prometheus, variant: str) -> Decision:
    return decide(measure(prometheus.query, f'variant=~"{variant}|"', RULES.window), RULES)


def test_a_healthy_canary_is_promoted(tracks: tuple[Prometheus, dict[str, RunningServer]]) -> None:
    decision = _decision(tracks[0], "healthy")
    assert decision.action == "promote", decision.reasons
    # increase() extrapolates to the window's edges: never below what was sent.
    assert decision.canary.requests >= 150 and decision.canary.error_ratio == 0
    # The same model on the same traffic: the same shares, up to increase()'s extrapolation.
    assert decision.canary.class_shares == pytest.approx(decision.stable.class_shares, abs=0.03)


def test_a_canary_with_an_error_burst_is_rolled_back(tracks: tuple[Prometheus, dict[str, RunningServer]]) -> None:
    decision = _decision(tracks[0], "broken")
    assert decision.action == "rollback"
    assert decision.reasons[0].startswith("5xx ratio 100.00% burns the 99.9% availability budget 1000.0x (limit 14.4x")


def test_a_canary_whose_predictions_shift_is_rolled_back(tracks: tuple[Prometheus, dict[str, RunningServer]]) -> None:
    decision = _decision(tracks[0], "shifted")
    assert decision.action == "rollback"
    assert any(reason.startswith("prediction share of class_") for reason in decision.reasons), decision.reasons
    # It answers class_0 far less (its training data called most of class_0 class_1).
    assert (
        decision.canary.class_shares["class_0"] < decision.stable.class_shares["class_0"] - RULES.max_prediction_shift
    )
    assert decision.canary.error_ratio == 0


def test_too_little_canary_traffic_waits(tracks: tuple[Prometheus, dict[str, RunningServer]]) -> None:
    decision = _decision(tracks[0], "none-yet")  # a canary whose pods have served nothing
    assert decision.action == "wait" and decision.reasons == ["the canary served 0 requests; 100 decide"]
    strict = CanaryRules(window=RULES.window, min_canary_requests=1000)
    assert decide(measure(tracks[0].query, 'variant=~"healthy|"', strict.window), strict).action == "wait"


def test_the_cli_exits_with_the_decision(
    tracks: tuple[Prometheus, dict[str, RunningServer]], capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tracks[0].client.base_url)
    common = ["--prometheus", url, "--window", "5m", "--min-canary-requests", "100"]
    assert main([*common, "--selector", 'variant=~"healthy|"']) == 0
    assert main([*common, "--selector", 'variant=~"shifted|"']) == 3
    assert main([*common, "--selector", 'variant=~"none-yet|"']) == 4
    assert '"action": "wait"' in capsys.readouterr().out
    assert main(["--prometheus", "http://127.0.0.1:9"]) == 2
