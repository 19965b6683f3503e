"""Fixtures of the Lambda proxy tests: AWS settings for boto3, fresh clients per test, and a
SageMaker runtime whose transport forwards to the real model service (SageMaker is the only fake:
the container behind it is the real one)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

from inference_proxy import handler
from tests.support.model_server import RunningServer, start_server


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What the Lambda runtime and components/inference_api.py put in the environment."""
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ENDPOINT_NAME": "mlops-test-wine",
        "MODEL_VERSION": "v-from-config",
        "INVOKE_TIMEOUT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    clear_caches()
    yield
    clear_caches()


def clear_caches() -> None:
    for cached in (
        handler.settings,
        handler.runtime_client,
        handler.sagemaker_client,
        handler.s3_client,
        handler.secrets_client,
        handler.feedback_ids,
    ):
        cached.cache_clear()


@pytest.fixture(scope="module")
def container(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("container") / "server.log", MODEL_DIR=str(artifact))
    yield running
    running.stop()


def _response(url: str, status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
    raw = HTTPResponse(body=io.BytesIO(body), status=status, headers=headers, preload_content=False)
    return AWSResponse(url, status, headers, raw)


class ForwardToContainer:
    """Answers InvokeEndpoint the way SageMaker does, from the container's /invocations: its 2xx
    body as is, anything else as a ModelError (HTTP 424) carrying the original status and message."""

    def __init__(self, container: RunningServer) -> None:
        self.container = container
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        self.calls.append({"headers": dict(request.headers), "body": body})
        answer = httpx.post(
            self.container.url + "/invocations",
            content=body,
            headers={"content-type": request.headers["Content-Type"]},
            timeout=5,
        )
        if answer.status_code < 300:
            return _response(request.url, 200, answer.content, {"Content-Type": "application/json"})
        error = {
            "Message": f"Received client error ({answer.status_code}) from primary",
            "OriginalStatusCode": answer.status_code,
            "OriginalMessage": answer.text,
        }
        return _response(
            request.url,
            424,
            json.dumps(error).encode(),
            {"x-amzn-ErrorType": "ModelError", "Content-Type": "application/json"},
        )


@pytest.fixture
def sagemaker(container: RunningServer) -> ForwardToContainer:
    forward = ForwardToContainer(container)
    handler.runtime_client().meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", forward)
    return forward
