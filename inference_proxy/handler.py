"""Lambda behind the inference API: validate, call the SageMaker endpoint, answer in plain JSON.

Routes (API Gateway HTTP API, payload format 2.0):
- `POST /predict` with `{"instances": [[13 numbers], ...]}` (or a bare list of rows) answers
  `{"request_id", "model_version", "feedback_id", "predictions": [...]}`;
- `POST /feedback` with `{"feedback_id": "...", "label": 0 | "class_0"}` (or `"labels"`, one per
  row) scores a prediction and keeps the label in the ground-truth prefix of the capture bucket;
- `GET /health` answers 200 while the endpoint is InService, 503 otherwise.

Feedback ids on this path are the proxy's own (model_service.feedback, shipped beside this file),
signed with a key from Secrets Manager: SageMaker may run several instances of the container, and
the proxy is the one place every request and label passes through.

Bad input is a 4xx that names the problem; endpoint faults are 502, 503 or 504; nothing ever answers
with a stack trace. Every request writes one JSON log line (no feature values). On a serverless
endpoint, where SageMaker has no data capture, a sample of requests and responses is written to the
capture bucket in SageMaker's capture format instead.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

# Shipped beside this file in the function's package (components/inference_api.py): one definition
# of a valid row for the proxy and the container.
from model_service.capture_format import capture_record
from model_service.feedback import FeedbackIds
from model_service.rows import InputError, parse_sagemaker_json
from model_service.trace_context import format_traceparent, new_span_id, new_trace_id, parse_traceparent

JSON = "application/json"


@dataclass(frozen=True)
class Settings:
    """From the function's environment (set by components/inference_api.py)."""

    endpoint_name: str
    model_version: str = ""
    feature_count: int = 13
    max_rows: int = 100
    max_body_bytes: int = 262_144
    invoke_timeout_seconds: float = 10.0
    capture_bucket: str = ""
    capture_prefix: str = ""
    capture_percent: float = 0.0
    # Feedback: the Secrets Manager secret holding the signing key, where labels are kept, and the
    # model's class names (a label may name its class).
    feedback_secret_arn: str = ""
    ground_truth_bucket: str = ""
    ground_truth_prefix: str = ""
    class_names: tuple[str, ...] = ()
    feedback_max_age_seconds: int = 7 * 24 * 3600

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            endpoint_name=env["ENDPOINT_NAME"],
            model_version=env.get("MODEL_VERSION", ""),
            feature_count=int(env.get("FEATURE_COUNT", "13")),
            max_rows=int(env.get("MAX_ROWS", "100")),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", "262144")),
            invoke_timeout_seconds=float(env.get("INVOKE_TIMEOUT_SECONDS", "10")),
            capture_bucket=env.get("CAPTURE_BUCKET", ""),
            capture_prefix=env.get("CAPTURE_PREFIX", "").strip("/"),
            capture_percent=float(env.get("CAPTURE_PERCENT", "0")),
            feedback_secret_arn=env.get("FEEDBACK_SECRET_ARN", ""),
            ground_truth_bucket=env.get("GROUND_TRUTH_BUCKET", ""),
            ground_truth_prefix=env.get("GROUND_TRUTH_PREFIX", "").strip("/"),
            class_names=tuple(name for name in env.get("CLASS_NAMES", "").split(",") if name),
            feedback_max_age_seconds=int(env.get("FEEDBACK_MAX_AGE_SECONDS", str(7 * 24 * 3600))),
        )


class RequestError(Exception):
    """An answer other than success: HTTP status, a stable reason and a message for people."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@cache
def settings() -> Settings:
    return Settings.from_env()


# Clients are made once per container (cold start) and reused by every invocation.
# One retry at most: a second attempt, with the first's connect and read time, must still end
# before the function's own timeout (see worst_case_seconds).
ENDPOINT_ATTEMPTS = 2
CONNECT_TIMEOUT_SECONDS = 2
# botocore's standard retry mode waits at most this long before its first retry.
FIRST_BACKOFF_SECONDS = 1


def worst_case_seconds(invoke_timeout_seconds: float) -> float:
    """The longest one request can spend on the endpoint, every attempt timing out."""
    per_attempt = CONNECT_TIMEOUT_SECONDS + invoke_timeout_seconds
    return ENDPOINT_ATTEMPTS * per_attempt + (ENDPOINT_ATTEMPTS - 1) * FIRST_BACKOFF_SECONDS


def runtime_config(invoke_timeout_seconds: float) -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=invoke_timeout_seconds,
        # total_max_attempts counts the first call; botocore's max_attempts would count retries only.
        retries={"total_max_attempts": ENDPOINT_ATTEMPTS, "mode": "standard"},
    )


@cache
def runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", config=runtime_config(settings().invoke_timeout_seconds))


@cache
def sagemaker_client() -> Any:
    return boto3.client("sagemaker", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}))


@cache
def s3_client() -> Any:
    return boto3.client("s3", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}))


@cache
def secrets_client() -> Any:
    return boto3.client("secretsmanager", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}))


@cache
def feedback_ids() -> FeedbackIds | None:
    """The signer of feedback ids (the key read once per container), or None where feedback is off."""
    config = settings()
    if not config.feedback_secret_arn:
        return None
    key = secrets_client().get_secret_value(SecretId=config.feedback_secret_arn)["SecretString"]
    # Scored ids are remembered per container; the API's authorizer is what keeps labels honest.
    return FeedbackIds(key.encode(), config.feedback_max_age_seconds, replay_cache_bytes=1 << 20)


def parse_json_body(event: dict[str, Any], config: Settings, example: str) -> Any:
    """The request's JSON document, or a `RequestError` that names what is wrong with it."""
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != JSON:
        raise RequestError(415, "content_type", f"content type {media or '(none)'!r} is not supported; send {JSON}")
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except ValueError:
            raise RequestError(400, "malformed_body", "the body is not valid base64-encoded UTF-8") from None
    if len(raw.encode("utf-8")) > config.max_body_bytes:
        raise RequestError(413, "body_too_large", f"body exceeds the limit of {config.max_body_bytes} bytes")
    if not raw.strip():
        raise RequestError(400, "empty_body", f"the body is empty; send {example}")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestError(
            400, "malformed_json", f"body is not valid JSON: {error.msg} at position {error.pos}"
        ) from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise RequestError(400, "malformed_json", f"body holds a number too long to read ({error})") from None
    except RecursionError:
        raise RequestError(400, "malformed_json", "body nests deeper than any request needs") from None


def parse_rows(event: dict[str, Any], config: Settings) -> list[list[float]]:
    """The request's rows, or a `RequestError` that names what is wrong with them."""
    document = parse_json_body(event, config, '{"instances": [[...13 numbers...], ...]}')
    try:
        values, count = parse_sagemaker_json(document, config.feature_count, config.max_rows)
    except InputError as error:
        raise RequestError(error.status, error.reason, error.message) from None
    features = config.feature_count
    return [values[start : start + features] for start in range(0, count * features, features)]


def trace_context(event: dict[str, Any]) -> str:
    """The W3C traceparent to send on: the caller's, passed through unchanged (the proxy records
    no span of its own), or a new, unsampled trace so the call can still be followed in the logs."""
    headers = event.get("headers") or {}
    incoming = headers.get("traceparent") if isinstance(headers, dict) else None
    if isinstance(incoming, str) and len(incoming) <= 128:
        parsed = parse_traceparent(incoming.encode("latin-1", "replace"))
        if parsed is not None:
            return format_traceparent(*parsed)
    return format_traceparent(new_trace_id(), new_span_id(), sampled=False)


def invoke(
    rows: list[list[float]], request_id: str, traceparent: str, config: Settings
) -> tuple[dict[str, Any], bytes, bytes]:
    """Call the endpoint; return its parsed answer and the raw payloads (for capture). The trace
    context goes in CustomAttributes: SageMaker hands the container no other header of ours."""
    payload = json.dumps({"instances": rows}).encode()
    try:
        response = runtime_client().invoke_endpoint(
            EndpointName=config.endpoint_name,
            ContentType=JSON,
            Accept=JSON,
            Body=payload,
            InferenceId=request_id,
            CustomAttributes=f"traceparent={traceparent}",
        )
        body = response["Body"].read()
    except ClientError as error:
        raise endpoint_error(error) from None
    except (ReadTimeoutError, ConnectTimeoutError):
        raise RequestError(
            504, "endpoint_timeout", f"the endpoint did not answer within {config.invoke_timeout_seconds:g} s"
        ) from None
    except BotoCoreError as error:
        raise RequestError(
            502, "endpoint_unreachable", f"the endpoint could not be reached ({type(error).__name__})"
        ) from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise RequestError(502, "bad_endpoint_answer", "the endpoint answered with something other than predictions")
    return answer, payload, body


def endpoint_error(error: ClientError) -> RequestError:
    """Map a SageMaker runtime error to an answer: the container's 4xx stays a 4xx, the rest are
    endpoint faults."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "ModelError":
        original = int(error.response.get("OriginalStatusCode") or 0)
        if 400 <= original < 500:
            detail = error.response.get("OriginalMessage") or message
            return RequestError(400, "rejected_by_model", f"the model rejected the input: {detail}")
        return RequestError(502, "model_error", f"the model failed (status {original or 'unknown'})")
    if code in ("ServiceUnavailable", "ThrottlingException", "ModelNotReadyException"):
        return RequestError(
            503, "endpoint_busy", f"the endpoint cannot take requests now ({code}); retry", {"retry-after": "1"}
        )
    if code == "ValidationError":
        # The proxy validated the input, so this is the endpoint itself (missing, wrong name).
        return RequestError(503, "endpoint_unavailable", "the endpoint is not available")
    return RequestError(502, "endpoint_fault", f"the endpoint failed ({code or 'unknown error'})")


def capture(request_id: str, payload: bytes, answer: bytes, config: Settings) -> None:
    """Write one request/response pair in SageMaker's capture format; a failure only logs."""
    if not config.capture_bucket or random.uniform(0, 100) >= config.capture_percent:
        return
    now = datetime.now(UTC)
    record = capture_record(
        payload.decode(), answer.decode(), event_id=request_id, inference_id=request_id, inference_time=now.isoformat()
    )
    key = f"{config.capture_prefix}/{now:%Y/%m/%d/%H}/{request_id}.jsonl".lstrip("/")
    try:
        s3_client().put_object(Bucket=config.capture_bucket, Key=key, Body=json.dumps(record).encode() + b"\n")
    except (ClientError, BotoCoreError) as error:
        log("WARNING", "capture failed", request_id=request_id, error=type(error).__name__)


def predict(event: dict[str, Any], request_id: str, traceparent: str, config: Settings) -> tuple[dict[str, Any], int]:
    rows = parse_rows(event, config)
    answer, payload, raw_answer = invoke(rows, request_id, traceparent, config)
    capture(request_id, payload, raw_answer, config)
    body = {
        "request_id": request_id,
        "model_version": answer.get("model_version") or config.model_version,
        "predictions": answer["predictions"],
    }
    signer = feedback_ids()
    if signer is not None:
        indices = [prediction.get("label_index") for prediction in answer["predictions"]]
        if all(type(index) is int and index >= 0 for index in indices):
            body["feedback_id"] = signer.issue(indices)
    return body, len(rows)


def feedback(event: dict[str, Any], request_id: str, config: Settings) -> dict[str, Any]:
    """Score a label against the prediction its feedback id carries, and keep it."""
    signer = feedback_ids()
    if signer is None or not config.ground_truth_bucket:
        raise RequestError(404, "feedback_off", "feedback is not set up on this API")
    document = parse_json_body(event, config, '{"feedback_id": "...", "label": 0}')
    if not isinstance(document, dict) or "feedback_id" not in document:
        raise RequestError(400, "schema", 'expected {"feedback_id": "...", "label": <class>} or "labels": [...]')
    labels = document.get("labels", [document["label"]] if "label" in document else None)
    if not isinstance(labels, list) or not labels or len(labels) > config.max_rows:
        raise RequestError(
            400, "bad_label", f'give "label" (one row) or "labels" (one per row, at most {config.max_rows})'
        )
    truth = [class_index(label, config.class_names) for label in labels]
    try:
        prediction = signer.open(document["feedback_id"])
    except InputError as error:
        raise RequestError(error.status, error.reason, error.message) from None
    if len(truth) != len(prediction.labels):
        raise RequestError(400, "bad_label", f"{len(truth)} labels for a request of {len(prediction.labels)} rows")
    now = time.time()
    names = config.class_names
    record = {
        "feedback_id": document["feedback_id"],
        "labels": [names[i] if i < len(names) else str(i) for i in truth],
        "predicted": [names[i] if i < len(names) else str(i) for i in prediction.labels],
        "predicted_at": prediction.issued_at,
        "labelled_at": round(now, 3),
        "label_delay_seconds": round(max(now - prediction.issued_at, 0.0), 3),
        "model_version": config.model_version,
    }
    key = f"{config.ground_truth_prefix}/{datetime.fromtimestamp(now, UTC):%Y/%m/%d/%H}/{request_id}.jsonl".lstrip("/")
    try:
        s3_client().put_object(Bucket=config.ground_truth_bucket, Key=key, Body=json.dumps(record).encode() + b"\n")
    except (ClientError, BotoCoreError) as error:
        raise RequestError(
            503,
            "label_not_stored",
            f"the label could not be stored ({type(error).__name__}); retry",
            {"retry-after": "1"},
        ) from None
    signer.mark_scored(prediction.serial)
    correct = sum(1 for true, guess in zip(truth, prediction.labels, strict=True) if true == guess)
    return {"request_id": request_id, "labelled": len(truth), "correct": correct}


def class_index(label: Any, class_names: tuple[str, ...]) -> int:
    """A label as a class index: the index itself, or the class's name."""
    if type(label) is int and 0 <= label < max(len(class_names), 1 << 16):
        return label
    if isinstance(label, str) and label in class_names:
        return class_names.index(label)
    raise RequestError(
        400,
        "bad_label",
        f"label {label!r} is not a class of the model: {list(class_names)} or 0-{len(class_names) - 1}",
    )


def health(config: Settings) -> dict[str, Any]:
    try:
        status = sagemaker_client().describe_endpoint(EndpointName=config.endpoint_name)["EndpointStatus"]
    except (ClientError, BotoCoreError) as error:
        raise RequestError(
            503, "endpoint_unavailable", f"the endpoint could not be described ({type(error).__name__})"
        ) from None
    if status != "InService":
        raise RequestError(503, "endpoint_not_in_service", f"the endpoint is {status}")
    return {"status": "ok", "endpoint": config.endpoint_name, "model_version": config.model_version}


def log(level: str, message: str, **fields: Any) -> None:
    line = {"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "message": message}
    line.update(fields)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def respond(
    status: int, body: dict[str, Any], request_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": JSON, "x-request-id": request_id, **(headers or {})},
        "body": json.dumps(body),
    }


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    started = time.perf_counter()
    request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    route = event.get("routeKey", "") if isinstance(event, dict) else ""
    rows = 0
    fields: dict[str, Any] = {}
    traceparent = trace_context(event) if isinstance(event, dict) else format_traceparent(new_trace_id(), 1, False)
    fields["trace_id"] = traceparent.split("-")[1]
    try:
        config = settings()
        if route == "POST /predict":
            body, rows = predict(event, request_id, traceparent, config)
        elif route == "POST /feedback":
            body = feedback(event, request_id, config)
        elif route == "GET /health":
            body = health(config)
        else:
            raise RequestError(
                404, "not_found", f"no route {route!r}; use POST /predict, POST /feedback or GET /health"
            )
        response = respond(200, body, request_id)
        fields["model_version"] = body.get("model_version", "")
    except RequestError as error:
        fields["reason"] = error.reason
        response = respond(
            error.status,
            {"error": str(error), "reason": error.reason, "request_id": request_id},
            request_id,
            error.headers,
        )
    except Exception as error:  # the last line of defence: a fault here must not leak a trace
        fields.update(reason="internal", error=type(error).__name__)
        response = respond(500, {"error": "internal error", "reason": "internal", "request_id": request_id}, request_id)
    response["headers"]["traceresponse"] = traceparent
    status = response["statusCode"]
    log(
        "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO",
        "request",
        request_id=request_id,
        route=route,
        status=status,
        rows=rows,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        **fields,
    )
    return response
