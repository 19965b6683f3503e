"""The Lambda proxy: success through the real container, every kind of bad input, every endpoint
fault, health, capture; no answer ever carries a stack trace."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws
from sklearn.datasets import load_wine

from inference_proxy import handler
from tests.proxy.conftest import ForwardToContainer
from tests.support.lambda_package import imported_project_modules, unpack

ROWS = load_wine().data[:3].tolist()
CONTEXT = SimpleNamespace(aws_request_id="req-0001")


def event(body: Any = None, route: str = "POST /predict", content_type: str = "application/json", **extra: Any) -> dict:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return {"routeKey": route, "headers": {"Content-Type": content_type}, "body": text, **extra}


def call(evt: dict) -> tuple[int, dict, dict]:
    response = handler.handle(evt, CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_predicts_through_the_real_container(
    sagemaker: ForwardToContainer, artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, body, headers = call(event({"instances": ROWS}))
    assert status == 200, body
    version = json.loads((artifact / "metadata.json").read_text())["version"]
    assert body["model_version"] == version
    assert body["request_id"] == headers["x-request-id"] == "req-0001"
    assert [p["label"] for p in body["predictions"]] == ["class_0"] * 3
    sent = sagemaker.calls[0]
    assert json.loads(sent["body"]) == {"instances": ROWS}
    assert sent["headers"]["X-Amzn-SageMaker-Inference-Id"] == b"req-0001"
    (line,) = log_lines(capsys)
    assert (line["status"], line["rows"], line["route"], line["level"]) == (200, 3, "POST /predict", "INFO")
    assert str(ROWS[0][0]) not in json.dumps(line)  # no feature values in logs


def test_a_bare_list_of_rows_and_base64_bodies_are_accepted(sagemaker: ForwardToContainer) -> None:
    encoded = base64.b64encode(json.dumps(ROWS[:1]).encode()).decode()
    status, body, _ = call(event(encoded, isBase64Encoded=True))
    assert status == 200 and len(body["predictions"]) == 1


def test_a_rejection_by_the_container_stays_a_client_error(
    sagemaker: ForwardToContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy believes in 12 features; the container knows better and answers 400.
    monkeypatch.setenv("FEATURE_COUNT", "12")
    handler.settings.cache_clear()
    status, body, _ = call(event({"instances": [row[:12] for row in ROWS]}))
    assert (status, body["reason"]) == (400, "rejected_by_model")
    assert "13" in body["error"]


@pytest.mark.parametrize(
    ("evt", "status", "reason"),
    [
        (event({"instances": ROWS}, content_type="text/plain"), 415, "content_type"),
        (event(None), 400, "empty_body"),
        (event("{not json"), 400, "malformed_json"),
        (event({"rows": ROWS}), 400, "schema"),
        (event({"instances": []}), 400, "empty_batch"),
        (event({"instances": [ROWS[0]] * 101}), 413, "too_many_rows"),
        (event({"instances": [ROWS[0][:12]]}), 400, "feature_count"),
        (event({"instances": [5]}), 400, "feature_count"),
        (event({"instances": [["a", *ROWS[0][1:]]]}), 400, "non_numeric"),
        (event({"instances": [[True, *ROWS[0][1:]]]}), 400, "non_numeric"),
        (event('{"instances": [[NaN, 1,1,1,1,1,1,1,1,1,1,1,1]]}'), 400, "non_finite"),
        (event('{"instances": [[Infinity, 1,1,1,1,1,1,1,1,1,1,1,1]]}'), 400, "non_finite"),
        (event("%%%not-base64", isBase64Encoded=True), 400, "malformed_body"),
        (event("[" + "1," * 200_000 + "1]"), 413, "body_too_large"),
        (event('{"instances": [[' + "9" * 401 + ", 1,1,1,1,1,1,1,1,1,1,1,1]]}"), 400, "non_finite"),
        (event('{"instances": [[' + "9" * 5000 + ", 1,1,1,1,1,1,1,1,1,1,1,1]]}"), 400, "malformed_json"),
        (event("[" * 100_000 + "]" * 100_000), 400, "malformed_json"),
        (event({"instances": ROWS}, route="DELETE /predict"), 404, "not_found"),
    ],
)
def test_bad_input_is_a_client_error_that_names_the_problem(evt: dict, status: int, reason: str) -> None:
    with Stubber(handler.runtime_client()) as stub:  # no call may reach the endpoint
        got_status, body, headers = call(evt)
        stub.assert_no_pending_responses()
    assert (got_status, body["reason"]) == (status, reason), body
    assert body["error"] and "Traceback" not in body["error"]
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("code", "http", "fields", "status", "reason"),
    [
        ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "boom"}, 502, "model_error"),
        ("ModelNotReadyException", 429, {}, 503, "endpoint_busy"),
        ("ServiceUnavailable", 503, {}, 503, "endpoint_busy"),
        ("ThrottlingException", 400, {}, 503, "endpoint_busy"),
        ("ValidationError", 400, {}, 503, "endpoint_unavailable"),
        ("InternalFailure", 500, {}, 502, "endpoint_fault"),
        ("InternalDependencyException", 530, {}, 502, "endpoint_fault"),
    ],
)
def test_endpoint_errors_become_clear_answers(
    code: str, http: int, fields: dict, status: int, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = handler.runtime_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code=code,
            http_status_code=http,
            service_message="x",
            modeled_fields=fields,
        )
        got_status, body, headers = call(event({"instances": ROWS}))
    assert (got_status, body["reason"]) == (status, reason)
    if status == 503:
        assert headers.get("retry-after") == "1" or reason == "endpoint_unavailable"
    (line,) = log_lines(capsys)
    assert (line["status"], line["reason"], line["level"]) == (status, reason, "ERROR")


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), 504, "endpoint_timeout"),
        (EndpointConnectionError(endpoint_url="https://runtime.sagemaker"), 502, "endpoint_unreachable"),
    ],
)
def test_timeouts_and_unreachable_endpoints(fault: Exception, status: int, reason: str) -> None:
    def fail(**_: Any) -> None:
        raise fault

    handler.runtime_client().meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", fail)
    got_status, body, _ = call(event({"instances": ROWS}))
    assert (got_status, body["reason"]) == (status, reason)


def test_an_unreadable_endpoint_answer_is_a_bad_gateway() -> None:
    with Stubber(handler.runtime_client()) as stub:
        stub.add_response(
            "invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"<html>"), 6), "ContentType": "text/html"}
        )
        status, body, _ = call(event({"instances": ROWS}))
    assert (status, body["reason"]) == (502, "bad_endpoint_answer")


def test_an_unexpected_fault_answers_500_without_a_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENDPOINT_NAME")  # settings cannot load
    handler.settings.cache_clear()
    status, body, _ = call(event({"instances": ROWS}))
    assert (status, body) == (500, {"error": "internal error", "reason": "internal", "request_id": "req-0001"})


@pytest.mark.parametrize(("endpoint_status", "expected"), [("InService", 200), ("Updating", 503)])
def test_health_follows_the_endpoint_status(endpoint_status: str, expected: int) -> None:
    with Stubber(handler.sagemaker_client()) as stub:
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": "mlops-test-wine",
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-test-wine",
                "EndpointConfigName": "config",
                "EndpointStatus": endpoint_status,
                "CreationTime": "2026-01-01T00:00:00Z",
                "LastModifiedTime": "2026-01-01T00:00:00Z",
            },
            {"EndpointName": "mlops-test-wine"},
        )
        status, body, _ = call(event(route="GET /health"))
    assert status == expected, body


def test_health_is_unavailable_when_the_endpoint_cannot_be_described() -> None:
    with Stubber(handler.sagemaker_client()) as stub:
        stub.add_client_error("describe_endpoint", service_error_code="ValidationException", http_status_code=400)
        status, body, _ = call(event(route="GET /health"))
    assert (status, body["reason"]) == (503, "endpoint_unavailable")


@mock_aws
def test_capture_writes_requests_and_responses_in_sagemakers_format(
    sagemaker: ForwardToContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket="capture")
    monkeypatch.setenv("CAPTURE_BUCKET", "capture")
    monkeypatch.setenv("CAPTURE_PREFIX", "mlops-test-wine/proxy")
    monkeypatch.setenv("CAPTURE_PERCENT", "100")
    handler.settings.cache_clear()
    status, _, _ = call(event({"instances": ROWS}))
    assert status == 200
    (key,) = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket="capture")["Contents"]]
    assert key.startswith("mlops-test-wine/proxy/") and key.endswith("/req-0001.jsonl")
    record = json.loads(boto3.client("s3").get_object(Bucket="capture", Key=key)["Body"].read())
    assert json.loads(record["captureData"]["endpointInput"]["data"]) == {"instances": ROWS}
    assert len(json.loads(record["captureData"]["endpointOutput"]["data"])["predictions"]) == 3
    assert record["eventMetadata"]["inferenceId"] == "req-0001"


@mock_aws
def test_a_failed_capture_does_not_fail_the_request(
    sagemaker: ForwardToContainer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAPTURE_BUCKET", "no-such-bucket")
    monkeypatch.setenv("CAPTURE_PERCENT", "100")
    handler.settings.cache_clear()
    status, _, _ = call(event({"instances": ROWS}))
    assert status == 200
    warning, request = log_lines(capsys)
    assert (warning["message"], warning["error"]) == ("capture failed", "NoSuchBucket")
    assert request["status"] == 200


def test_no_capture_when_the_percentage_is_zero(sagemaker: ForwardToContainer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTURE_BUCKET", "capture")
    monkeypatch.setenv("CAPTURE_PERCENT", "0")
    handler.settings.cache_clear()
    with Stubber(handler.s3_client()) as stub:  # a put_object would fail the stubber
        status, _, _ = call(event({"instances": ROWS}))
        stub.assert_no_pending_responses()
    assert status == 200


def test_the_function_package_runs_on_its_own_and_shares_the_services_row_contract(tmp_path: Path) -> None:
    """Unpacked as Lambda unpacks it, the handler imports the row contract from the package itself;
    and a body the service refuses is refused by the proxy with the same status and reason."""
    from components.inference_api import FUNCTION_FILES
    from model_service.protocol import InputError, parse_json, parse_sagemaker_json

    where, modules = imported_project_modules(
        unpack(FUNCTION_FILES, tmp_path), extra="import model_service.rows as rows; print(rows.__file__); "
    )
    assert Path(where).resolve() == (tmp_path / "model_service" / "rows.py").resolve()
    assert modules == (
        "['model_service', 'model_service.capture_format', 'model_service.feedback', 'model_service.rows', "
        "'model_service.trace_context']"
    )

    refused_by_both = (
        {"rows": ROWS},
        {"instances": [5]},
        [[*ROWS[0][:12], "x"]],
        [[1e308] * 12 + [True]],
        [[1] * 13] * 101,
        [],
    )
    for document in refused_by_both:
        with pytest.raises(InputError) as refused:
            parse_sagemaker_json(parse_json(json.dumps(document).encode()), 13, 100)
        got_status, body, _ = call(event(document))
        assert (got_status, body["reason"]) == (refused.value.status, refused.value.reason), document


def test_the_proxy_gives_up_on_the_endpoint_before_its_own_timeout_with_margin() -> None:
    """Every attempt timing out, the proxy still answers its 504 at least 2 s before Lambda would
    kill it; and botocore really makes no more attempts than that sum assumes."""
    from components.inference_api import ENDPOINT_TIMEOUT_SECONDS, LAMBDA_TIMEOUT_SECONDS

    assert handler.worst_case_seconds(ENDPOINT_TIMEOUT_SECONDS) <= LAMBDA_TIMEOUT_SECONDS - 2
    attempts = []

    def count(**_: object) -> None:
        attempts.append(1)
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker")

    client = boto3.client("sagemaker-runtime", region_name="us-east-1", config=handler.runtime_config(0.1))
    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", count)
    with pytest.raises(ReadTimeoutError):
        client.invoke_endpoint(EndpointName="e", Body=b"[]", ContentType="application/json")
    assert len(attempts) == handler.ENDPOINT_ATTEMPTS


SIGNING_KEY = "proxy-signing-key-from-secrets-manager-0001"


@pytest.fixture
def feedback_setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager with the signing key and the capture bucket (moto), and the function's env."""
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(Name="feedback-key", SecretString=SIGNING_KEY)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="capture")
        monkeypatch.setenv("FEEDBACK_SECRET_ARN", secret["ARN"])
        monkeypatch.setenv("GROUND_TRUTH_BUCKET", "capture")
        monkeypatch.setenv("GROUND_TRUTH_PREFIX", "ground-truth/mlops-test-wine")
        monkeypatch.setenv("CLASS_NAMES", "class_0,class_1,class_2")
        for cached in (handler.settings, handler.feedback_ids, handler.secrets_client, handler.s3_client):
            cached.cache_clear()
        yield s3
        handler.feedback_ids.cache_clear()


def test_predictions_carry_a_feedback_id_and_labels_are_scored_and_kept(
    sagemaker: ForwardToContainer, feedback_setup: Any
) -> None:
    rows = [ROWS[0], load_wine().data[70].tolist()]
    status, body, _ = call(event({"instances": rows}))
    assert status == 200 and body["feedback_id"].startswith("f1.")
    predicted = [p["label"] for p in body["predictions"]]
    assert predicted == ["class_0", "class_1"]
    status, answer, _ = call(
        event({"feedback_id": body["feedback_id"], "labels": ["class_0", 2]}, route="POST /feedback")
    )
    assert status == 200 and (answer["labelled"], answer["correct"]) == (2, 1)
    (key,) = [item["Key"] for item in feedback_setup.list_objects_v2(Bucket="capture")["Contents"]]
    assert key.startswith("ground-truth/mlops-test-wine/") and key.endswith(".jsonl")
    record = json.loads(feedback_setup.get_object(Bucket="capture", Key=key)["Body"].read())
    assert record["labels"] == ["class_0", "class_2"] and record["predicted"] == predicted
    assert 0 <= record["label_delay_seconds"] < 60
    again, refused, _ = call(event({"feedback_id": body["feedback_id"], "labels": [0, 1]}, route="POST /feedback"))
    assert (again, refused["reason"]) == (409, "already_labelled")


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        ({"label": 0}, 400, "schema"),
        ({"feedback_id": "f1.forged", "label": 0}, 400, "bad_feedback_id"),
        ({"feedback_id": "x", "label": "merlot"}, 400, "bad_label"),
        ({"feedback_id": "x", "labels": []}, 400, "bad_label"),
        ([1, 2], 400, "schema"),
    ],
)
def test_bad_feedback_is_a_client_error(feedback_setup: Any, document: Any, status: int, reason: str) -> None:
    got, body, _ = call(event(document, route="POST /feedback"))
    assert (got, body["reason"]) == (status, reason)
    assert "Contents" not in feedback_setup.list_objects_v2(Bucket="capture")


def test_a_label_that_cannot_be_stored_is_not_marked_scored(sagemaker: ForwardToContainer, feedback_setup: Any) -> None:
    _, body, _ = call(event({"instances": ROWS[:1]}))
    feedback_setup.delete_bucket(Bucket="capture")
    status, answer, headers = call(event({"feedback_id": body["feedback_id"], "label": 0}, route="POST /feedback"))
    assert (status, answer["reason"], headers["retry-after"]) == (503, "label_not_stored", "1")
    feedback_setup.create_bucket(Bucket="capture")
    status, answer, _ = call(event({"feedback_id": body["feedback_id"], "label": 0}, route="POST /feedback"))
    assert status == 200 and answer["correct"] == 1  # the retry is scored once


def test_feedback_is_off_without_its_secret(sagemaker: ForwardToContainer) -> None:
    status, body, _ = call(event({"instances": ROWS[:1]}))
    assert status == 200 and "feedback_id" not in body
    status, answer, _ = call(event({"feedback_id": "x", "label": 0}, route="POST /feedback"))
    assert (status, answer["reason"]) == (404, "feedback_off")


def test_the_callers_trace_context_reaches_the_container_and_the_log(
    sagemaker: ForwardToContainer, capsys: pytest.CaptureFixture[str]
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    evt = event({"instances": ROWS})
    evt["headers"]["traceparent"] = traceparent
    status, _, headers = call(evt)
    assert status == 200
    sent = sagemaker.calls[0]["headers"]["X-Amzn-SageMaker-Custom-Attributes"]
    assert sent == f"traceparent={traceparent}".encode()  # passed through: the proxy records no span
    assert headers["traceresponse"] == traceparent
    (line,) = log_lines(capsys)
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize("incoming", [None, "00-not-a-trace", "00-" + "0" * 32 + "-b7ad6b7169203331-01"])
def test_without_a_valid_trace_context_a_new_unsampled_trace_is_started(
    sagemaker: ForwardToContainer, capsys: pytest.CaptureFixture[str], incoming: str | None
) -> None:
    evt = event({"instances": ROWS})
    if incoming is not None:
        evt["headers"]["traceparent"] = incoming
    status, _, headers = call(evt)
    assert status == 200
    version, trace_id, _, flags = headers["traceresponse"].split("-")
    assert (version, flags) == ("00", "00") and len(trace_id) == 32 and trace_id != "0" * 32
    sent = sagemaker.calls[0]["headers"]["X-Amzn-SageMaker-Custom-Attributes"].decode()
    assert sent == f"traceparent={headers['traceresponse']}"
    (line,) = log_lines(capsys)
    assert line["trace_id"] == trace_id
