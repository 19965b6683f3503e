"""The local stack's path through an S3 that is not AWS's (MinIO in the cluster), against a local
S3 server (moto's): `model-service publish` uploads the image's model as the stack's Job runs it,
and the real service loads it through MODEL_URI and writes its capture, with nothing but the
endpoint override and credentials in its environment, as the chart gives them to the pods."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.support.model_server import free_port, start_server

ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]


@pytest.fixture
def s3_endpoint() -> Iterator[dict[str, str]]:
    """A fresh local S3 with the store's buckets; the environment its clients get."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "model-service",
        "AWS_SECRET_ACCESS_KEY": "generated-by-pulumi",
    }
    httpx.post(f"{env['AWS_ENDPOINT_URL_S3']}/moto-api/reset")  # moto keeps its state per process
    client = _client(env)
    for bucket in ("models", "capture"):
        client.create_bucket(Bucket=bucket)
    yield env
    server.stop()


def _client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _publish(source: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_service", "publish", "--from", str(source), "--to", "s3://models/wine"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_published_model_is_served_from_the_store_and_capture_lands_there(
    artifact: Path, s3_endpoint: dict[str, str], tmp_path: Path
) -> None:
    published = _publish(artifact, s3_endpoint)
    assert published.returncode == 0, published.stderr
    version = json.loads((artifact / "metadata.json").read_text())["version"]
    keys = {item["Key"] for item in _client(s3_endpoint).list_objects_v2(Bucket="models")["Contents"]}
    assert f"wine/{version}/model.tar.gz" in keys

    server = start_server(
        tmp_path / "service.log",
        MODEL_DIR=str(tmp_path / "no-model-here"),
        MODEL_URI=f"s3://models/wine/{version}/model.tar.gz",
        MODEL_WORKDIR=str(tmp_path / "work"),
        CAPTURE_URI="s3://capture/cluster/model-service",
        CAPTURE_SAMPLE_PERCENT="100",
        STORE_FLUSH_SECONDS="0.5",
        **s3_endpoint,
    )
    try:
        body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 13], "data": ROW}]}
        response = httpx.post(server.url + "/v2/models/wine-classifier/infer", json=body)
        assert response.status_code == 200, response.text
        metadata = httpx.get(server.url + "/v2/models/wine-classifier").json()
        assert metadata["versions"] == [version]
        deadline = time.monotonic() + 15
        captured: list[str] = []
        while time.monotonic() < deadline and not captured:
            listing = _client(s3_endpoint).list_objects_v2(Bucket="capture", Prefix="cluster/model-service/")
            captured = [item["Key"] for item in listing.get("Contents", [])]
            time.sleep(0.2)
        assert captured, "no capture object written to the store"
    finally:
        server.stop()


def test_publish_refuses_what_the_service_could_not_load(
    artifact: Path, s3_endpoint: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in artifact.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "model.tar.gz").write_bytes(b"not a model")
    published = _publish(broken, s3_endpoint)
    assert published.returncode == 2
    assert f"not publishing {broken}" in published.stderr
    assert "Contents" not in _client(s3_endpoint).list_objects_v2(Bucket="models")
