"""Smoke test of the managed inference path after `pulumi up`: the API and the endpoint answer.

    python -m delivery.smoke --stack dev
    python -m delivery.smoke --outputs outputs.json     # saved `pulumi stack output --json`

Reads the stack outputs, calls `GET <api>health` and `POST <api>predict` (SigV4-signed with the
caller's AWS credentials, or with `--token` / $SMOKE_BEARER_TOKEN for a JWT-guarded API) and
invokes the SageMaker endpoint directly with boto3. Prints one PASS/FAIL line a check; exits 0
only if every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

from delivery.outputs import OutputsError, stack_outputs

# The first row of the wine data set (class_0): a request any version of the model can answer.
SAMPLE_ROW = [14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0]
REQUIRED_OUTPUTS = ("region", "inferenceApiUrl", "sagemakerEndpointName")


class SmokeError(Exception):
    """A check failed; the message says what was expected and what came back."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]


def read_outputs(stack: str | None, outputs_file: Path | None) -> dict[str, Any]:
    """The stack outputs the checks need, or a `SmokeError` that says why they are missing."""
    try:
        outputs = stack_outputs(stack, outputs_file)
    except OutputsError as error:
        raise SmokeError(str(error)) from None
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SmokeError(
            f"stack outputs lack {', '.join(missing)}: "
            "is sagemakerEnabled true and modelVersion set, and was `pulumi up` run?"
        )
    return outputs


class ApiClient:
    """Calls the inference API the way a client must: SigV4 for IAM, a bearer token for JWT."""

    def __init__(self, base_url: str, region: str, session: boto3.Session, token: str | None, timeout: float) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.region = region
        self.session = session
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> HttpAnswer:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data is not None else {}
        request = AWSRequest(method=method, url=self.base_url + path, data=data, headers=headers)
        if self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        else:
            credentials = self.session.get_credentials()
            if credentials is None:
                raise SmokeError("no AWS credentials to sign the request with (aws sso login, or --token for JWT)")
            SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=data, headers=dict(request.headers), method=method)
        try:
            with urllib.request.urlopen(prepared, timeout=self.timeout) as response:
                return HttpAnswer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return HttpAnswer(error.code, json.loads(text))
            except ValueError:
                return HttpAnswer(error.code, {"raw": text.decode(errors="replace")[:200]})
        except (urllib.error.URLError, TimeoutError) as error:
            raise SmokeError(f"{method} {request.url} failed: {error}") from None


def check_health(api: ApiClient) -> str:
    answer = api.call("GET", "health")
    if answer.status != 200:
        raise SmokeError(f"GET /health answered {answer.status}: {answer.body}")
    return f"endpoint {answer.body.get('endpoint')} in service"


def check_api_prediction(api: ApiClient) -> str:
    answer = api.call("POST", "predict", {"instances": [SAMPLE_ROW]})
    if answer.status != 200:
        raise SmokeError(f"POST /predict answered {answer.status}: {answer.body}")
    predictions = answer.body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != 1:
        raise SmokeError(f"POST /predict answered without one prediction: {answer.body}")
    return f"label {predictions[0].get('label')} from model {answer.body.get('model_version')}"


def check_bad_input_rejected(api: ApiClient) -> str:
    answer = api.call("POST", "predict", {"instances": [SAMPLE_ROW[:5]]})
    if answer.status != 400:
        raise SmokeError(f"a 5-feature row should get 400, got {answer.status}: {answer.body}")
    return "a short row gets 400"


def check_endpoint(runtime: Any, endpoint_name: str) -> str:
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps({"instances": [SAMPLE_ROW]}).encode(),
        )
        answer = json.loads(response["Body"].read())
    except (ClientError, BotoCoreError) as error:
        raise SmokeError(f"invoke_endpoint({endpoint_name}) failed: {error}") from None
    except ValueError:
        raise SmokeError(f"invoke_endpoint({endpoint_name}) answered something other than JSON") from None
    if len(answer.get("predictions", [])) != 1:
        raise SmokeError(f"invoke_endpoint answered without one prediction: {answer}")
    return f"model {answer.get('model_version')} answered directly"


def run_checks(checks: Sequence[tuple[str, Callable[[], str]]]) -> bool:
    passed = True
    for name, check in checks:
        try:
            detail = check()
            print(f"PASS {name}: {detail}")
        except SmokeError as error:
            passed = False
            print(f"FAIL {name}: {error}")
    return passed


def main(argv: Sequence[str] | None = None, session: boto3.Session | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m delivery.smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", help="stack to read outputs from (default: the selected stack)")
    parser.add_argument("--outputs", type=Path, help="a file with `pulumi stack output --json` instead of the CLI")
    parser.add_argument("--token", default=os.environ.get("SMOKE_BEARER_TOKEN"), help="bearer token for a JWT API")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP call (default 30)")
    args = parser.parse_args(argv)
    try:
        outputs = read_outputs(args.stack, args.outputs)
    except SmokeError as error:
        print(f"FAIL outputs: {error}")
        return 1
    session = session or boto3.Session(region_name=outputs["region"])
    api = ApiClient(outputs["inferenceApiUrl"], outputs["region"], session, args.token, args.timeout)
    runtime = session.client("sagemaker-runtime", region_name=outputs["region"])
    passed = run_checks(
        [
            ("api health", lambda: check_health(api)),
            ("api prediction", lambda: check_api_prediction(api)),
            ("api rejects bad input", lambda: check_bad_input_rejected(api)),
            ("endpoint prediction", lambda: check_endpoint(runtime, outputs["sagemakerEndpointName"])),
        ]
    )
    print("smoke test passed" if passed else "smoke test FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
