"""Feedback ids: signed, self-describing, scored by any replica, impossible to forge or replay,
and accepted only with the labelling credential."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_wine

from model_service.errors import InputError
from model_service.feedback import FeedbackIds, bearer_matches
from tests.support.model_server import AUTHORIZATION, RunningServer, start_server
from tests.support.round_robin import round_robin_proxy

WINE = load_wine()
KEY = b"k" * 32


def test_an_id_carries_its_prediction_and_opens_only_with_its_key() -> None:
    ids = FeedbackIds(KEY, max_age_seconds=3600, replay_cache_bytes=1 << 20)
    token = ids.issue([0, 2, 1, 1])
    labels = ids.open(token).labels
    assert labels == [0, 2, 1, 1]
    other = FeedbackIds(b"x" * 32, max_age_seconds=3600, replay_cache_bytes=1 << 20)
    with pytest.raises(InputError) as refused:
        other.open(token)
    assert refused.value.reason == "bad_feedback_id" and "signature" in refused.value.message


def test_every_altered_character_is_detected() -> None:
    ids = FeedbackIds(KEY, max_age_seconds=3600, replay_cache_bytes=1 << 20)
    token = ids.issue([1, 1, 1])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    refused = 0
    for position in range(3, len(token)):
        replacement = next(c for c in alphabet if c != token[position])
        altered = token[:position] + replacement + token[position + 1 :]
        try:
            labels = ids.open(altered).labels
        except InputError as error:
            assert error.reason == "bad_feedback_id"
            refused += 1
        else:
            # Only the padding bits of the last base64 character can change without changing bytes.
            assert position == len(token) - 1 and labels == [1, 1, 1]
    assert refused >= len(token) - 4


def test_ids_are_unique_and_unguessable_serials_do_not_repeat() -> None:
    ids = FeedbackIds(KEY, max_age_seconds=3600, replay_cache_bytes=1 << 20)
    tokens = {ids.issue([0]) for _ in range(10_000)}
    assert len(tokens) == 10_000


def test_an_expired_id_is_refused_with_the_setting_to_change() -> None:
    now = [1_800_000_000.0]
    ids = FeedbackIds(KEY, max_age_seconds=600, replay_cache_bytes=1 << 20, clock=lambda: now[0])
    token = ids.issue([2])
    now[0] += 601
    with pytest.raises(InputError) as refused:
        ids.open(token)
    assert refused.value.reason == "expired_feedback_id" and "FEEDBACK_MAX_AGE_SECONDS" in refused.value.message


def test_the_replay_cache_is_bounded_by_its_byte_budget() -> None:
    ids = FeedbackIds(KEY, max_age_seconds=3600, replay_cache_bytes=120 * 100)
    assert ids.replay_capacity == 100
    tokens = [ids.issue([0]) for _ in range(150)]
    for token in tokens:
        ids.mark_scored(ids.open(token).serial)
    with pytest.raises(InputError) as refused:
        ids.open(tokens[-1])
    assert refused.value.status == 409
    assert len(ids._redeemed) == 100  # the oldest 50 were forgotten


def test_the_largest_batch_fits_in_a_header_and_many_classes_are_supported() -> None:
    ids = FeedbackIds(KEY, max_age_seconds=3600, replay_cache_bytes=1 << 20)
    token = ids.issue([2] * 1024)
    assert len(token) < 2000  # well inside MAX_HEADER_BYTES (16 KiB)
    wide = ids.issue([300, 0, 65535])
    assert ids.open(wide).labels == [300, 0, 65535]


def test_bearer_credential_is_compared_exactly() -> None:
    assert bearer_matches(b"Bearer secret-token", "secret-token")
    assert bearer_matches(b"bearer secret-token", "secret-token")
    assert not bearer_matches(b"Bearer secret-toke", "secret-token")
    assert not bearer_matches(b"Basic secret-token", "secret-token")
    assert not bearer_matches(b"", "secret-token")


def _feedback_totals(url: str) -> dict[str, float]:
    totals = {"correct": 0.0, "incorrect": 0.0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "model_feedback_total":
                totals[sample.labels["outcome"]] += sample.value
    return totals


def _requests_served(url: str, route: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "model_service_requests_total" and sample.labels["route"] == route:
                total += sample.value
    return total


@pytest.fixture(scope="module")
def replicas(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningServer]]:
    folder = tmp_path_factory.mktemp("replicas")
    servers = [start_server(folder / f"replica-{index}.log", MODEL_DIR=str(artifact)) for index in range(3)]
    yield servers
    for server in servers:
        server.stop()


def test_labels_sent_through_a_round_robin_proxy_score_exactly_across_replicas(
    replicas: list[RunningServer],
) -> None:
    rows = WINE.data[::6]  # 30 rows of all three classes
    with round_robin_proxy([server.port for server in replicas]) as port:
        url = f"http://127.0.0.1:{port}"
        predictions = []
        for row in rows:
            # A new connection per request: the proxy sends each to the next replica.
            answer = httpx.post(url + "/invocations", json=[row.tolist()], headers={"connection": "close"})
            assert answer.status_code == 200
            predictions.append((answer.json()["feedback_id"], answer.json()["predictions"][0]["label_index"]))
        httpx.get(url + "/ping")  # shift the turn: each label reaches a replica other than its prediction's
        correct_expected = 0
        for index, (feedback_id, predicted) in enumerate(predictions):
            label = predicted if index % 3 else (predicted + 1) % 3
            correct_expected += label == predicted
            answer = httpx.post(
                url + "/feedback",
                json={"feedback_id": feedback_id, "label": label},
                headers={**AUTHORIZATION, "connection": "close"},
            )
            assert answer.status_code == 200, answer.text
    served = [_requests_served(server.url, "/invocations") for server in replicas]
    labelled = [_requests_served(server.url, "/feedback") for server in replicas]
    assert served == [10, 10, 10] and labelled == [10, 10, 10]
    totals = [_feedback_totals(server.url) for server in replicas]
    assert sum(t["correct"] for t in totals) == correct_expected == 20
    assert sum(t["incorrect"] for t in totals) == len(rows) - correct_expected == 10


def test_a_replica_of_another_deployment_refuses_the_id(artifact: Path, tmp_path: Path) -> None:
    one = start_server(tmp_path / "one.log", MODEL_DIR=str(artifact))
    other = start_server(tmp_path / "other.log", MODEL_DIR=str(artifact), FEEDBACK_SIGNING_KEY="z" * 40)
    try:
        feedback_id = httpx.post(one.url + "/invocations", json=[WINE.data[0].tolist()]).json()["feedback_id"]
        refused = httpx.post(
            other.url + "/feedback", json={"feedback_id": feedback_id, "label": 0}, headers=AUTHORIZATION
        )
        assert refused.status_code == 400 and refused.json()["reason"] == "bad_feedback_id"
    finally:
        one.stop()
        other.stop()


def test_feedback_without_a_token_configured_is_off(artifact: Path, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server.log", MODEL_DIR=str(artifact), FEEDBACK_TOKEN="")
    try:
        answer = httpx.post(server.url + "/feedback", json={"feedback_id": "x", "label": 0}, headers=AUTHORIZATION)
        assert answer.status_code == 403 and "FEEDBACK_TOKEN" in answer.json()["error"]
    finally:
        server.stop()


def test_forging_accuracy_is_impossible_without_the_credential(replicas: list[RunningServer]) -> None:
    server = replicas[0]
    before = _feedback_totals(server.url)
    ids = [
        httpx.post(server.url + "/invocations", json=[WINE.data[i].tolist()]).json()["feedback_id"] for i in range(20)
    ]
    for feedback_id, credential in zip(ids, itertools.cycle([None, "Bearer wrong", "Basic abc"]), strict=False):
        headers = {"authorization": credential} if credential else {}
        answer = httpx.post(server.url + "/feedback", json={"feedback_id": feedback_id, "label": 1}, headers=headers)
        assert answer.status_code in (401, 403)
    assert _feedback_totals(server.url) == before
