"""The real server over real HTTP: every route, every kind of bad input, and the logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_wine

from tests.support.model_server import RunningServer

WINE = load_wine()
ROW = WINE.data[0].tolist()
INFER = "/v2/models/wine-classifier/infer"


def v2(rows: list[list[float]], datatype: str = "FP64", **extra: object) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": "input-0",
                "datatype": datatype,
                "shape": [len(rows), 13],
                "data": [v for row in rows for v in row],
            }
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def client(server: RunningServer) -> httpx.Client:
    return server.client()


def test_health_and_metadata(client: httpx.Client, artifact: Path) -> None:
    version = json.loads((artifact / "metadata.json").read_text())["version"]
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/ping").status_code == 200
    assert client.get("/v2").json()["name"] == "model-service"
    metadata = client.get("/v2/models/wine-classifier").json()
    assert metadata["versions"] == [version]
    assert metadata["inputs"][0]["shape"] == [-1, 13]
    assert metadata["inputs"][0]["parameters"]["feature_names"] == list(WINE.feature_names)
    assert {o["name"]: o["shape"] for o in metadata["outputs"]} == {
        "label": [-1],
        "class_name": [-1],
        "probabilities": [-1, 3],
    }
    assert client.get("/v2/models/wine-classifier/ready").json() == {"name": "wine-classifier", "ready": True}
    assert client.get(f"/v2/models/wine-classifier/versions/{version}").status_code == 200


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_v2_infer_predicts_every_row_of_a_batch(client: httpx.Client, datatype: str) -> None:
    rows = [WINE.data[i].tolist() for i in (0, 70, 150)]
    response = client.post(INFER, json=v2(rows, datatype, id="batch-1"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "batch-1" and response.headers["x-request-id"] == "batch-1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["data"] == [WINE.target[i] for i in (0, 70, 150)]
    assert outputs["class_name"]["data"] == ["class_0", "class_1", "class_2"]
    assert outputs["probabilities"]["shape"] == [3, 3]
    probabilities = outputs["probabilities"]["data"]
    for row in range(3):
        assert sum(probabilities[row * 3 : row * 3 + 3]) == pytest.approx(1.0)


def test_v2_infer_accepts_nested_rows_and_a_matching_version(client: httpx.Client, artifact: Path) -> None:
    version = json.loads((artifact / "metadata.json").read_text())["version"]
    request = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 13], "data": [ROW]}]}
    response = client.post(f"/v2/models/wine-classifier/versions/{version}/infer", json=request)
    assert response.status_code == 200
    assert response.json()["model_version"] == version


def test_sagemaker_invocations_json_and_csv(client: httpx.Client) -> None:
    as_list = client.post("/invocations", json=[ROW, WINE.data[100].tolist()])
    assert [p["label"] for p in as_list.json()["predictions"]] == ["class_0", f"class_{WINE.target[100]}"]
    instances = client.post("/invocations", json={"instances": [ROW]})
    assert instances.json()["predictions"][0]["label_index"] == 0
    csv_body = "\n".join(",".join(str(v) for v in WINE.data[i]) for i in (0, 60)) + "\n"
    as_csv = client.post("/invocations", content=csv_body, headers={"content-type": "text/csv"})
    assert as_csv.status_code == 200
    assert [p["label_index"] for p in as_csv.json()["predictions"]] == [0, WINE.target[60]]


def _too_big() -> bytes:
    return json.dumps(v2([ROW] * 60)).encode() + b" " * 70_000


def _with_literal(literal: str) -> bytes:
    """A one-row request whose fourth feature is `literal`, written into the JSON text as is."""
    return json.dumps(v2([[*ROW[:3], 0.123456789, *ROW[4:]]])).replace("0.123456789", literal).encode()


BAD_REQUESTS = [
    # (name, method, path, body bytes, content type, status, reason, words in the error)
    ("malformed JSON", "POST", INFER, b'{"inputs": [', "application/json", 400, "malformed_json", "malformed JSON"),
    (
        "NaN literal",
        "POST",
        INFER,
        _with_literal("NaN"),
        "application/json",
        400,
        "malformed_json",
        "NaN and Infinity are not JSON numbers",
    ),
    (
        "wrong content type",
        "POST",
        INFER,
        json.dumps(v2([ROW])).encode(),
        "text/plain",
        415,
        "content_type",
        "text/plain",
    ),
    ("not an object", "POST", INFER, b"[1, 2]", "application/json", 400, "schema", '"inputs"'),
    (
        "two tensors",
        "POST",
        INFER,
        json.dumps({"inputs": [v2([ROW])["inputs"][0]] * 2}).encode(),
        "application/json",
        400,
        "schema",
        "exactly one input tensor",
    ),
    (
        "wrong datatype",
        "POST",
        INFER,
        json.dumps({"inputs": [{**v2([ROW])["inputs"][0], "datatype": "INT8"}]}).encode(),
        "application/json",
        400,
        "datatype",
        "'INT8'",
    ),
    (
        "wrong shape",
        "POST",
        INFER,
        json.dumps({"inputs": [{**v2([ROW])["inputs"][0], "shape": [13]}]}).encode(),
        "application/json",
        400,
        "shape",
        "expected [N, 13]",
    ),
    (
        "wrong feature count",
        "POST",
        INFER,
        json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 12], "data": ROW[:12]}]}).encode(),
        "application/json",
        400,
        "feature_count",
        "12 features; the model takes 13",
    ),
    (
        "data shorter than shape",
        "POST",
        INFER,
        json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 13], "data": ROW}]}).encode(),
        "application/json",
        400,
        "shape",
        "has 13 values; shape [2, 13] needs 26",
    ),
    (
        "non-numeric",
        "POST",
        INFER,
        json.dumps(v2([[*ROW[:5], "high", *ROW[6:]]])).encode(),
        "application/json",
        400,
        "non_numeric",
        "row 0, column 5 is 'high'",
    ),
    (
        "boolean",
        "POST",
        INFER,
        json.dumps(v2([[True, *ROW[1:]]])).encode(),
        "application/json",
        400,
        "non_numeric",
        "row 0, column 0 is True",
    ),
    ("infinity", "POST", INFER, _with_literal("1e999"), "application/json", 400, "non_finite", "number is infinity"),
    (
        "huge integer",
        "POST",
        INFER,
        _with_literal("1" + "0" * 400),
        "application/json",
        400,
        "non_finite",
        "beyond float64",
    ),
    (
        "empty batch",
        "POST",
        INFER,
        json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [0, 13], "data": []}]}).encode(),
        "application/json",
        400,
        "empty_batch",
        "empty",
    ),
    (
        "too many rows",
        "POST",
        INFER,
        json.dumps(v2([ROW] * 65)).encode(),
        "application/json",
        413,
        "too_many_rows",
        "limit is 64",
    ),
    ("oversize body", "POST", INFER, _too_big(), "application/json", 413, "body_too_large", "MAX_BODY_BYTES"),
    (
        "unknown model",
        "POST",
        "/v2/models/resnet/infer",
        json.dumps(v2([ROW])).encode(),
        "application/json",
        404,
        "unknown_model",
        "'resnet' not found",
    ),
    (
        "unknown version",
        "POST",
        "/v2/models/wine-classifier/versions/0/infer",
        json.dumps(v2([ROW])).encode(),
        "application/json",
        404,
        "unknown_model",
        "version '0'",
    ),
    (
        "CSV text",
        "POST",
        "/invocations",
        b"1,2,three,4,5,6,7,8,9,10,11,12,13\n",
        "text/csv",
        400,
        "non_numeric",
        "CSV row 0, column 2 is 'three'",
    ),
    (
        "CSV nan",
        "POST",
        "/invocations",
        b"nan,2,3,4,5,6,7,8,9,10,11,12,13\n",
        "text/csv",
        400,
        "non_finite",
        "NaN and infinity",
    ),
    ("CSV short row", "POST", "/invocations", b"1,2,3\n", "text/csv", 400, "feature_count", "3 values"),
    ("CSV empty", "POST", "/invocations", b"\n", "text/csv", 400, "empty_batch", "empty"),
    ("invocations XML", "POST", "/invocations", b"<rows/>", "application/xml", 415, "content_type", "application/xml"),
    (
        "invocations short JSON row",
        "POST",
        "/invocations",
        b"[[1, 2]]",
        "application/json",
        400,
        "feature_count",
        "row 0 has 2 features",
    ),
    ("feedback without id", "POST", "/feedback", b'{"label": 1}', "application/json", 400, "schema", "feedback_id"),
    (
        "feedback unknown id",
        "POST",
        "/feedback",
        b'{"feedback_id": "nope", "label": 1}',
        "application/json",
        400,
        "bad_feedback_id",
        "the feedback_id a prediction returned",
    ),
    (
        "feedback bad label",
        "POST",
        "/feedback",
        b'{"feedback_id": "x", "label": "merlot"}',
        "application/json",
        400,
        "bad_label",
        "'merlot' is not a class",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "reason", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_is_a_clear_4xx_never_a_5xx(
    client: httpx.Client, method: str, path: str, body: bytes, content_type: str, status: int, reason: str, words: str
) -> None:
    before = _metric(client, "model_service_validation_failures_total", reason=reason)
    response = client.request(method, path, content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["reason"] == reason
    assert words in answer["error"]
    assert _metric(client, "model_service_validation_failures_total", reason=reason) == before + 1


def test_unknown_route_and_wrong_method(client: httpx.Client) -> None:
    assert client.get("/v2/models/wine-classifier/explain").status_code == 404
    wrong = client.get(INFER)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert "use POST" in wrong.json()["error"]


def test_feedback_scores_an_earlier_prediction(client: httpx.Client) -> None:
    correct_before = _metric(client, "model_feedback_total", outcome="correct")
    wrong_before = _metric(client, "model_feedback_total", outcome="incorrect")
    response = client.post(INFER, json=v2([ROW, WINE.data[70].tolist()]))
    feedback_id = response.json()["parameters"]["feedback_id"]
    labels = ["class_0", 2]  # the second row is class_1: one wrong label
    answer = client.post("/feedback", json={"feedback_id": feedback_id, "labels": labels})
    assert answer.json() == {"labelled": 2, "correct": 1}
    assert _metric(client, "model_feedback_total", outcome="correct") == correct_before + 1
    assert _metric(client, "model_feedback_total", outcome="incorrect") == wrong_before + 1
    again = client.post("/feedback", json={"feedback_id": feedback_id, "labels": labels})
    assert again.status_code == 409  # one label per prediction
    assert again.json()["reason"] == "already_labelled"


def test_feedback_label_count_must_match_the_rows(client: httpx.Client) -> None:
    feedback_id = client.post(INFER, json=v2([ROW])).json()["parameters"]["feedback_id"]
    mismatch = client.post("/feedback", json={"feedback_id": feedback_id, "labels": [0, 1]})
    assert mismatch.status_code == 400
    assert client.post("/feedback", json={"feedback_id": feedback_id, "label": 0}).json()["correct"] == 1


def test_request_id_header_is_honoured(client: httpx.Client) -> None:
    response = client.post(INFER, json=v2([ROW]), headers={"x-request-id": "trace-abc"})
    assert response.headers["x-request-id"] == "trace-abc"
    assert response.json()["id"] == "trace-abc"


def test_access_log_is_one_json_object_a_line_without_feature_values(
    server: RunningServer, client: httpx.Client
) -> None:
    client.post(INFER, json=v2([ROW]), headers={"x-request-id": "log-check"})
    time.sleep(0.3)  # the access log is written every 50 ms
    entries = [json.loads(line) for line in server.log_lines()]  # every line must parse
    entry = next(e for e in entries if e.get("request_id") == "log-check")
    assert {"timestamp", "level", "message", "request_id", "model_version", "route", "status", "latency_ms"} <= set(
        entry
    )
    assert entry["route"] == "/v2/models/{name}/infer" and entry["status"] == 200
    assert "features" not in entry
    assert str(ROW[0]) not in json.dumps(entry)
    loaded = next(e for e in entries if e["message"] == "model loaded")
    assert loaded["model_name"] == "wine-classifier"


def _metric(client: httpx.Client, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
