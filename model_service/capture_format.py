"""SageMaker's data-capture record: one JSON line a request, with the request and response bodies
as strings. The model service and the Lambda proxy write it, the drift monitor reads it (and what
SageMaker captures itself). Standard library only: both Lambdas ship this module."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

JSON = "application/json"


def capture_record(
    request_body: str,
    response_body: str,
    *,
    event_id: str,
    inference_time: str,
    inference_id: str | None = None,
    content_type: str = JSON,
) -> dict[str, Any]:
    """A record in SageMaker's layout (both bodies JSON text unless `content_type` says otherwise)."""
    metadata = {"eventId": event_id}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = inference_time
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": request_body,
                "encoding": "JSON",
            },
            "endpointOutput": {
                "observedContentType": JSON,
                "mode": "OUTPUT",
                "data": response_body,
                "encoding": "JSON",
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def captured_bodies(record: dict[str, Any]) -> tuple[str, str, str]:
    """(request body, response body, request content type) of a record, base64 undone where
    SageMaker encoded a body."""
    capture = record["captureData"]

    def body(part: dict[str, Any]) -> str:
        data = part.get("data", "")
        return base64.b64decode(data).decode() if part.get("encoding") == "BASE64" else data

    request = capture["endpointInput"]
    return body(request), body(capture["endpointOutput"]), request.get("observedContentType", "")


def hour_prefixes(prefix: str, start: datetime, end: datetime) -> list[str]:
    """The hourly partitions (`<prefix>/yyyy/mm/dd/hh/`, by upload time: model_service/capture.py)
    a window touches, the hour of its end included (an object of its last seconds may be uploaded
    after it)."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= end:
        prefixes.append(f"{prefix}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes
