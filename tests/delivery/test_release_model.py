"""The model release flow: train with the quality gate, upload to the stack's models bucket, pin
the stack to the version. The Pulumi CLI (not installable here) is a stand-in script that answers
like it; S3 is moto. Training and the release logic run for real."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from delivery import release_model

FAKE_PULUMI = """#!/usr/bin/env bash
# Stand-in for the Pulumi CLI: answers `stack output --json` and records `config set`.
echo "$*" >> "$FAKE_PULUMI_LOG"
case "$1 $2" in
  "stack output") [ -n "$FAKE_PULUMI_FAIL" ] && { echo "error: no stack named 'dev' found" >&2; exit 255; }
                  echo "$FAKE_PULUMI_OUTPUTS" ;;
  "config set") exit 0 ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir()
    script.write_text(FAKE_PULUMI)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "pulumi.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", json.dumps({"stack": "dev", "modelsBucket": "models-bucket"}))
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(key, value)
    yield log


@mock_aws
def test_a_release_uploads_the_model_and_pins_the_stack(pulumi: Path, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3").create_bucket(Bucket="models-bucket")
    assert release_model.main(["--stack", "dev"]) == 0
    version = capsys.readouterr().out.strip()
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="models-bucket")["Contents"]}
    assert keys == {
        f"wine/{version}/model.tar.gz",
        f"wine/{version}/metadata.json",
        f"wine/{version}/drift_reference.json",
    }
    calls = pulumi.read_text().splitlines()
    assert calls == ["stack output --json --stack dev", f"config set mlops-platform:modelVersion {version} --stack dev"]


@mock_aws
def test_the_quality_gate_stops_the_release_before_anything_changes(
    pulumi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3").create_bucket(Bucket="models-bucket")
    assert release_model.main(["--stack", "dev", "--min-accuracy", "1.01"]) == release_model.EXIT_QUALITY_GATE
    assert "quality gate refused the model" in capsys.readouterr().err
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="models-bucket")
    assert "config set" not in pulumi.read_text()


def test_a_stack_without_a_models_bucket_is_refused_with_the_fix(
    pulumi: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", json.dumps({"stack": "local", "awsEnabled": False}))
    assert release_model.main(["--stack", "local"]) == release_model.EXIT_ERROR
    assert "has no modelsBucket output: deploy it first" in capsys.readouterr().err


def test_a_cli_failure_is_reported_with_its_message(
    pulumi: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "1")
    assert release_model.main(["--stack", "dev"]) == release_model.EXIT_ERROR
    assert "no stack named 'dev' found" in capsys.readouterr().err
