"""scripts/pulumi-stack.sh, the set-up behind `make up`: backend, passphrase and the CLI calls.

The Pulumi CLI cannot run here, so a stand-in `pulumi` on PATH records how it was called; the
script under test is the real one.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.pulumi_harness import REPO

SCRIPT = REPO / "scripts" / "pulumi-stack.sh"


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "pulumi"
    cli.write_text(
        f'#!/bin/sh\necho "pulumi $* | $PULUMI_BACKEND_URL | $PULUMI_CONFIG_PASSPHRASE_FILE" >> "{tmp_path}/calls"\n'
    )
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def run(fake_cli: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{fake_cli / 'bin'}:{os.environ['PATH']}",
        "HOME": str(fake_cli),
        "PULUMI_STATE_DIR": str(fake_cli / "state"),
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), *args], env=environment, capture_output=True, text=True, timeout=60)


def test_local_stack_gets_a_file_backend_a_private_passphrase_and_runs_without_prompts(fake_cli: Path) -> None:
    result = run(fake_cli, "up")
    assert result.returncode == 0, result.stderr
    state = fake_cli / "state"
    passphrase = state / "passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert len(passphrase.read_text().strip()) >= 40
    calls = (fake_cli / "calls").read_text().splitlines()
    assert calls == [
        f"pulumi stack select --create local --secrets-provider passphrase | file://{state} | {passphrase}",
        f"pulumi up --stack local --policy-pack policy --yes | file://{state} | {passphrase}",
    ]
    first = passphrase.read_text()
    assert run(fake_cli, "preview").returncode == 0
    assert passphrase.read_text() == first, "the passphrase must survive later runs"


def test_shared_stacks_refuse_to_guess_a_backend_or_a_passphrase(fake_cli: Path) -> None:
    no_backend = run(fake_cli, "up", STACK="prod")
    assert no_backend.returncode == 2
    assert "PULUMI_BACKEND_URL is not set" in no_backend.stderr
    no_secret = run(fake_cli, "preview", STACK="dev", PULUMI_BACKEND_URL="s3://state")
    assert no_secret.returncode == 2
    assert "PULUMI_CONFIG_PASSPHRASE" in no_secret.stderr
    ok = run(fake_cli, "preview", STACK="dev", PULUMI_BACKEND_URL="s3://state", PULUMI_CONFIG_PASSPHRASE="x")
    assert ok.returncode == 0
    assert (
        (fake_cli / "calls")
        .read_text()
        .splitlines()[-1]
        .startswith("pulumi preview --stack dev --policy-pack policy | s3://state")
    )
    assert not (fake_cli / "state" / "passphrase").exists()


@pytest.mark.parametrize("source", ["stack file", "environment"])
def test_a_stack_with_a_kms_secrets_provider_needs_no_passphrase(fake_cli: Path, source: str) -> None:
    provider = "awskms://alias/mlops-secrets?region=us-east-1"
    stack_file = REPO / "Pulumi.kmsprobe.yaml"
    env = {"STACK": "kmsprobe", "PULUMI_BACKEND_URL": "s3://state"}
    if source == "stack file":
        stack_file.write_text(f"secretsprovider: {provider}\nencryptedkey: AQICAH...\n")
    else:
        env["PULUMI_SECRETS_PROVIDER"] = provider
    try:
        result = run(fake_cli, "preview", **env)
    finally:
        stack_file.unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    calls = (fake_cli / "calls").read_text().splitlines()
    assert calls[0] == f"pulumi stack select --create kmsprobe --secrets-provider {provider} | s3://state | "
    assert not (fake_cli / "state" / "passphrase").exists()
