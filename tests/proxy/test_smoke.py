"""The smoke script against a local stand-in for API Gateway that runs the real Lambda handler,
which calls the real model container through a stubbed SageMaker transport; only AWS is faked."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from delivery import smoke
from inference_proxy import handler
from tests.proxy.conftest import ForwardToContainer


class ApiGateway:
    """Turns HTTP requests into API Gateway HTTP API (payload 2.0) events for the real handler."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                outer.headers.append(dict(self.headers))
                length = int(self.headers.get("content-length") or 0)
                event = {
                    "routeKey": f"{self.command} /{self.path.rsplit('/', 1)[-1]}",
                    "headers": {key.lower(): value for key, value in self.headers.items()},
                    "body": self.rfile.read(length).decode() if length else None,
                }
                answer = handler.handle(event, SimpleNamespace(aws_request_id="smoke-1"))
                body = answer["body"].encode()
                self.send_response(answer["statusCode"])
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve  # noqa: N815 (http.server's names)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def gateway() -> Iterator[ApiGateway]:
    api = ApiGateway()
    yield api
    api.server.shutdown()


def describe(status: str) -> dict:
    return {
        "EndpointName": "mlops-test-wine",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-test-wine",
        "EndpointConfigName": "config",
        "EndpointStatus": status,
        "CreationTime": "2026-01-01T00:00:00Z",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
    }


def outputs_file(tmp_path: Path, url: str, **extra: str) -> Path:
    path = tmp_path / "outputs.json"
    outputs = {"region": "us-east-1", "inferenceApiUrl": url, "sagemakerEndpointName": "mlops-test-wine", **extra}
    path.write_text(json.dumps(outputs))
    return path


def session_through(container: ForwardToContainer) -> boto3.Session:
    session = boto3.Session(region_name="us-east-1")
    session.events.register("before-send.sagemaker-runtime.InvokeEndpoint", container)
    return session


def run_smoke(
    gateway: ApiGateway, sagemaker: ForwardToContainer, tmp_path: Path, endpoint_status: str, *flags: str
) -> int:
    """The smoke script against the local gateway, with the endpoint described as `endpoint_status`."""
    with Stubber(handler.sagemaker_client()) as stub:
        stub.add_response("describe_endpoint", describe(endpoint_status))
        return smoke.main(["--outputs", str(outputs_file(tmp_path, gateway.url)), *flags], session_through(sagemaker))


def test_every_check_passes_against_a_healthy_path(
    gateway: ApiGateway, sagemaker: ForwardToContainer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_smoke(gateway, sagemaker, tmp_path, "InService")
    out = capsys.readouterr().out
    assert code == 0, out
    for check in ("api health", "api prediction", "api rejects bad input", "endpoint prediction"):
        assert f"PASS {check}" in out
    assert "label class_0" in out
    # The API is IAM-guarded: every request is SigV4-signed for execute-api.
    assert all(h["Authorization"].startswith("AWS4-HMAC-SHA256 ") for h in gateway.headers)
    assert all("/execute-api/aws4_request" in h["Authorization"] for h in gateway.headers)


def test_a_bearer_token_replaces_signing(
    gateway: ApiGateway, sagemaker: ForwardToContainer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_smoke(gateway, sagemaker, tmp_path, "InService", "--token", "t0ken")
    assert code == 0, capsys.readouterr().out
    assert {h["Authorization"] for h in gateway.headers} == {"Bearer t0ken"}


def test_an_endpoint_out_of_service_fails_the_smoke_test(
    gateway: ApiGateway, sagemaker: ForwardToContainer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_smoke(gateway, sagemaker, tmp_path, "Failed")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL api health: GET /health answered 503" in out and "endpoint is Failed" in out
    assert "PASS api prediction" in out and out.rstrip().endswith("smoke test FAILED")


def test_a_failing_direct_invocation_is_reported() -> None:
    session = boto3.Session(region_name="us-east-1")
    runtime = session.client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code="ValidationError", service_message="no endpoint")
        message = None
        try:
            smoke.check_endpoint(runtime, "mlops-test-wine")
        except smoke.SmokeError as error:
            message = str(error)
    assert message is not None and "no endpoint" in message


def test_outputs_without_the_managed_path_fail_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"region": "us-east-1", "stack": "dev"}))
    assert smoke.main(["--outputs", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL outputs: stack outputs lack inferenceApiUrl, sagemakerEndpointName" in out
    assert "modelVersion set" in out


def test_an_unreachable_api_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 9 of loopback.
    code = smoke.main(["--outputs", str(outputs_file(tmp_path, "http://127.0.0.1:9/")), "--timeout", "2"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL api health: GET http://127.0.0.1:9/health failed" in out


def test_direct_invocation_reads_the_container_answer(sagemaker: ForwardToContainer) -> None:
    runtime = session_through(sagemaker).client("sagemaker-runtime")
    assert smoke.check_endpoint(runtime, "mlops-test-wine").startswith("model ")
    assert json.loads(io.BytesIO(sagemaker.calls[0]["body"]).read()) == {"instances": [smoke.SAMPLE_ROW]}
