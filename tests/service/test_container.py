"""The container, proven without a Docker engine: the Dockerfile read for its rules, and the exact
Python environment it builds (the pinned requirements, no dependency resolution) run for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from tests.support.model_server import free_port
from tests.support.pulumi_harness import REPO

DOCKERFILE = (REPO / "model_service" / "Dockerfile").read_text()
PINS = {
    Requirement(line).name.lower().replace("_", "-"): Requirement(line)
    for line in (REPO / "model_service" / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def test_pins_are_exact_and_inside_the_service_extra_ranges() -> None:
    assert all(str(req.specifier).startswith("==") for req in PINS.values())
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["service"]
    for line in extra:
        wanted = Requirement(line)
        name = wanted.name.lower().replace("_", "-")
        assert name in PINS, f"{name} is a service dependency but not pinned for the image"
        version = str(PINS[name].specifier).removeprefix("==")
        assert wanted.specifier.contains(version), f"{name}=={version} is outside {wanted.specifier}"


def test_dockerfile_is_multi_stage_non_root_pinned_and_health_checked() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) == 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    final = DOCKERFILE.split("\nFROM ")[-1]
    user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
    assert user and int(user.group(1)) > 0
    assert "HEALTHCHECK" in final and "model_service.healthcheck" in final
    assert not re.search(r"apt-get install|build-essential|gcc", final)
    assert "--no-deps -r /tmp/requirements.txt" in DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "model_service"]' in final and 'CMD ["serve"]' in final
    assert "EXPOSE 8080" in final
    for label in ("title", "version", "source"):
        assert f"org.opencontainers.image.{label}" in final


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A virtualenv made the way the build stage makes /opt/venv, and /opt/app's layout."""
    root = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "-r",
            str(REPO / "model_service" / "requirements.txt"),
        ],
        check=True,
        timeout=600,
    )
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, f"the pins are not a complete, consistent set:\n{check.stdout}"
    return python, copy_app_as_the_dockerfile_does(root / "app")


def copy_app_as_the_dockerfile_does(app: Path) -> Path:
    """/opt/app of the image: what the build stage's COPY lines take from the repository, less what
    its RUN line removes."""
    copies = re.findall(r"^COPY (?!--from)(.+) /opt/app/(\S*)$", DOCKERFILE, re.M)
    assert copies, "the Dockerfile copies nothing into /opt/app"
    for sources, target in copies:
        for source in sources.split():
            origin = REPO / source
            if origin.is_dir():
                shutil.copytree(
                    origin, app / target, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile", "requirements.txt")
                )
            else:
                (app / target).mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, app / target / origin.name)
    return app


def test_the_image_environment_serves_and_passes_its_healthcheck(
    image_python: tuple[Path, Path], artifact: Path
) -> None:
    python, app = image_python
    port = str(free_port())
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(app),
        "PORT": port,
        "HOST": "127.0.0.1",
        "MODEL_DIR": str(artifact),
        "HOME": str(app),
    }
    server = subprocess.Popen(
        [str(python), "-m", "model_service", "serve"],
        env=env,
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        healthy = 1
        for _ in range(200):
            healthy = subprocess.run(
                [str(python), "-m", "model_service.healthcheck"], env=env, capture_output=True
            ).returncode
            if healthy == 0 or server.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert healthy == 0
        modules = httpx.get(f"http://127.0.0.1:{port}/v2/models/wine-classifier").json()
        assert modules["name"] == "wine-classifier"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output
    down = subprocess.run([str(python), "-m", "model_service.healthcheck"], env=env, capture_output=True, text=True)
    assert down.returncode == 1 and "unhealthy" in down.stderr


def test_the_serving_path_imports_nothing_from_training(image_python: tuple[Path, Path]) -> None:
    python, app = image_python
    probe = (
        "import sys, model_service.app, model_service.cli, model_service.server\n"
        "print(sorted(m for m in ('sklearn', 'skl2onnx', 'joblib', 'pulumi') if m in sys.modules))"
    )
    result = subprocess.run(
        [str(python), "-c", probe], env={"PYTHONPATH": str(app)}, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
