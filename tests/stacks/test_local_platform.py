"""scripts/local-platform.sh, what `make up`, `make down` and `make open` run for the local stack:
prerequisites first, tools installed with a checksum check, a kind cluster when there is none,
the model trained and built into the image, the stack's config set.

No Docker, kind, kubectl, curl or Pulumi CLI may run here: stand-ins on PATH record every call
(and act out the few answers the script reads); the script under test is the real one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.pulumi_harness import REPO

SCRIPT = REPO / "scripts" / "local-platform.sh"
VERSIONS = dict(re.findall(r"^(\w+)=(\S+)$", (REPO / "scripts" / "versions.sh").read_text(), re.M))
PULUMI = VERSIONS["PULUMI_VERSION"]
KIND = VERSIONS["KIND_VERSION"]

# Each stand-in logs "<name> <args>" to $CALLS, then does what its case says (the default: exit 0).
STANDINS = {
    "docker": 'case "$1" in info) [ -z "$DOCKER_DOWN" ] ;; build) cat > /dev/null ;; esac',
    "kubectl": """case "$*" in
  "config current-context") [ -n "$CONTEXT" ] && echo "$CONTEXT" ;;
  *readyz*) [ -n "$CLUSTER_UP" ] ;;
esac""",
    "kind": 'case "$1" in get) echo "$KIND_CLUSTERS" ;; esac',
    # Serves release files from $RELEASES by the URL's last part; fails like a closed network without it.
    "curl": """out= url=
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift ;; http*) url=$1 ;; esac; shift; done
[ -n "$RELEASES" ] && [ -f "$RELEASES/${url##*/}" ] && cp "$RELEASES/${url##*/}" "$out" """,
    "pulumi": """case "$1" in
  version) echo "$PULUMI_PRINTS" ;;
  stack) if [ "$2" = output ]; then echo "grafana-secret-from-state"; fi ;;
esac""",
    # `model-service train --output DIR`: a version directory and the `latest` link, as the real one.
    "model-service": 'mkdir -p "$3/20261125T000000Z-abc" && ln -sfn "$3/20261125T000000Z-abc" "$3/latest"',
}
# What the script may use from the machine besides the stand-ins (so a real kubectl or docker on
# this machine stays out of reach).
UTILITIES = (
    "bash",
    "sh",
    "awk",
    "sha256sum",
    "cut",
    "tr",
    "uname",
    "mktemp",
    "tar",
    "gzip",
    "cp",
    "install",
    "mkdir",
    "grep",
    "head",
    "cat",
    "basename",
    "readlink",
    "rm",
    "sed",
    "dirname",
    "env",
    "ln",
    "base64",
    "chmod",
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    for utility in UTILITIES:
        found = shutil.which(utility)
        assert found, f"{utility} is not on this machine"
        (base / utility).symlink_to(found)
    for name, body in STANDINS.items():
        tool = bin_dir / name
        tool.write_text(f'#!/bin/bash\necho "{name} $*" >> "$CALLS"\n{body}\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "calls").touch()
    return tmp_path


def run(sandbox: Path, command: str, *, without: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    for name in without:
        (sandbox / "bin" / name).unlink()
    environment = {
        "PATH": f"{sandbox / 'bin'}:{sandbox / 'base'}",
        "HOME": str(sandbox),
        "CALLS": str(sandbox / "calls"),
        "TOOLS_DIR": str(sandbox / "tools"),
        "PULUMI_STATE_DIR": str(sandbox / "state"),
        "MODEL_SERVICE": str(sandbox / "bin" / "model-service"),
        "ARTIFACTS_DIR": str(sandbox / "artifacts"),
        "PULUMI_PRINTS": f"v{PULUMI}",
        "CONTEXT": "kind-mlops-platform-local",
        "CLUSTER_UP": "1",
        "KIND_CLUSTERS": "",
        "RELEASES": "",
        "DOCKER_DOWN": "",
        **env,
    }
    return subprocess.run(
        [str(sandbox / "base" / "bash"), str(SCRIPT), command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def calls(sandbox: Path) -> list[str]:
    return (sandbox / "calls").read_text().splitlines()


def releases(sandbox: Path, *, corrupt: bool = False) -> Path:
    """What the Pulumi and kind release pages serve: the archives and their checksum files."""
    folder = sandbox / "releases"
    folder.mkdir()
    pulumi_tar = folder / f"pulumi-v{PULUMI}-linux-x64.tar.gz"
    with tarfile.open(pulumi_tar, "w:gz") as archive:
        script = f'#!/bin/sh\necho "pulumi $*" >> "$CALLS"\n[ "$1" = version ] && echo v{PULUMI}\n'.encode()
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(script), 0o755
        archive.addfile(info, io.BytesIO(script))
    kind = folder / "kind-linux-amd64"
    kind.write_text('#!/bin/sh\necho "kind $*" >> "$CALLS"\n')
    for path, sums in ((pulumi_tar, f"pulumi-{PULUMI}-checksums.txt"), (kind, "kind-linux-amd64.sha256sum")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if corrupt:
            digest = "0" * 64
        (folder / sums).write_text(f"{digest}  {path.name}\n")
    return folder


needs_linux_x86 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the release files here are amd64")


@pytest.mark.parametrize(
    ("missing", "env", "message"),
    [
        (("docker", "podman"), {}, "Install Docker (https://docs.docker.com/get-docker/) or Podman"),
        ((), {"DOCKER_DOWN": "1"}, "docker is installed but not running"),
        (("kubectl",), {}, "Install it: https://kubernetes.io/docs/tasks/tools/"),
    ],
)
def test_each_missing_prerequisite_gets_one_message_before_anything_slow(
    sandbox: Path, missing: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    present = tuple(name for name in missing if (sandbox / "bin" / name).exists())
    result = run(sandbox, "prerequisites", without=present, PULUMI_PRINTS="", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not [call for call in calls(sandbox) if call.startswith(("curl", "kind", "pulumi"))]
    assert not (sandbox / "tools").exists()


@needs_linux_x86
def test_a_missing_pulumi_cli_is_installed_into_the_tools_folder_after_its_checksum_is_checked(sandbox: Path) -> None:
    result = run(sandbox, "prerequisites", without=("pulumi",), RELEASES=str(releases(sandbox)))
    assert result.returncode == 0, result.stderr
    assert (sandbox / "tools" / "pulumi").is_file()
    assert f"installed v{PULUMI} (sha256 checked)" in result.stdout
    assert "curl -fsSL --retry 2 -o" in "\n".join(calls(sandbox))
    assert any(f"/download/v{PULUMI}/pulumi-{PULUMI}-checksums.txt" in call for call in calls(sandbox))


@needs_linux_x86
def test_a_download_that_fails_its_checksum_installs_nothing(sandbox: Path) -> None:
    result = run(sandbox, "prerequisites", without=("pulumi",), RELEASES=str(releases(sandbox, corrupt=True)))
    assert result.returncode == 2
    assert "does not match its published checksum: not installed" in result.stderr
    assert not (sandbox / "tools" / "pulumi").exists()


def test_without_a_network_the_cli_message_says_how_to_install_it_another_way(sandbox: Path) -> None:
    result = run(sandbox, "prerequisites", without=("pulumi",))
    assert result.returncode == 2
    assert f"could not download the Pulumi CLI {PULUMI}" in result.stderr
    assert "brew install pulumi/tap/pulumi" in result.stderr and "https://www.pulumi.com/docs" in result.stderr


def test_a_usable_kube_context_is_used_as_it_is(sandbox: Path) -> None:
    result = run(sandbox, "prerequisites", CONTEXT="docker-desktop")
    assert result.returncode == 0, result.stderr
    assert "using the kube context docker-desktop" in result.stdout
    assert not [call for call in calls(sandbox) if call.startswith("kind")]


@needs_linux_x86
def test_with_no_usable_context_a_pinned_kind_cluster_is_made_and_remembered(sandbox: Path) -> None:
    result = run(
        sandbox, "prerequisites", without=("kind",), CONTEXT="", CLUSTER_UP="", RELEASES=str(releases(sandbox))
    )
    assert result.returncode == 0, result.stderr
    assert (sandbox / "tools" / "kind").is_file()
    create = next(call for call in calls(sandbox) if call.startswith("kind create cluster"))
    assert f"--name mlops-platform-local --image {VERSIONS['KIND_NODE_IMAGE']}" in create
    assert "--config scripts/kind-local.yaml" in create and "@sha256:" in create
    assert "kubectl config use-context kind-mlops-platform-local" in calls(sandbox)
    assert (sandbox / "state" / "kind-cluster").read_text().strip() == "mlops-platform-local"


def test_an_existing_kind_cluster_is_reused_not_recreated(sandbox: Path) -> None:
    result = run(sandbox, "prerequisites", CONTEXT="", CLUSTER_UP="", KIND_CLUSTERS="mlops-platform-local")
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls(sandbox) if call.startswith("kind create")]
    assert not (sandbox / "state" / "kind-cluster").exists()


def test_the_model_is_trained_built_into_the_image_loaded_and_pinned_in_the_stack(sandbox: Path) -> None:
    result = run(sandbox, "model-image")
    assert result.returncode == 0, result.stderr
    tag = "local-20261125T000000Z-abc"
    log = calls(sandbox)
    order = [
        f"model-service train --output {sandbox / 'artifacts'}",
        f"docker build -f model_service/Dockerfile -t model-service:{tag}-code .",
        f"docker build -t model-service:{tag} -f - {sandbox / 'artifacts'}",
        f"kind load docker-image model-service:{tag} --name mlops-platform-local",
        f"pulumi config set modelServiceImageTag {tag} --stack local",
        "pulumi config set modelVersion 20261125T000000Z-abc --stack local",
        "pulumi config set kubeContext kind-mlops-platform-local --stack local",
    ]
    positions = [log.index(call) for call in order]
    assert positions == sorted(positions), log


def test_a_cluster_that_cannot_see_local_images_is_named_with_the_way_out(sandbox: Path) -> None:
    result = run(sandbox, "model-image", CONTEXT="arn:aws:eks:us-east-1:123456789012:cluster/x")
    assert result.returncode == 2
    assert "cannot see local images" in result.stderr and "modelServiceImageRepository" in result.stderr
    assert not [call for call in calls(sandbox) if "config set" in call]


def test_down_destroys_the_stack_and_only_the_cluster_make_up_made(sandbox: Path) -> None:
    (sandbox / "state").mkdir()
    result = run(sandbox, "down")
    assert result.returncode == 0, result.stderr
    assert "pulumi destroy --stack local --yes" in calls(sandbox)
    assert not [call for call in calls(sandbox) if call.startswith("kind delete")]
    (sandbox / "state" / "kind-cluster").write_text("mlops-platform-local\n")
    assert run(sandbox, "down").returncode == 0
    assert calls(sandbox)[-1] == "kind delete cluster --name mlops-platform-local"
    assert not (sandbox / "state" / "kind-cluster").exists()


def test_open_forwards_grafana_and_prometheus_and_prints_the_login_from_the_stack(sandbox: Path) -> None:
    result = run(sandbox, "open")
    assert result.returncode == 0, result.stderr
    assert "Grafana     http://localhost:3000  (user admin, password grafana-secret-from-state)" in result.stdout
    assert "Prometheus  http://localhost:9090" in result.stdout
    log = calls(sandbox)
    assert "pulumi stack output grafanaAdminPassword --show-secrets --stack local" in log
    assert "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80" in log
    assert "kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090:9090" in log
