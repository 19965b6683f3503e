"""The README's train, serve and infer commands, run exactly as written: the model `make train`
writes is the one `make serve` serves, and the infer example gets a prediction."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time

import pytest

from tests.support.pulumi_harness import REPO


def _readme_block() -> list[str]:
    """The commands of the README block that starts with `make train`, comments dropped and
    continued lines joined."""
    text = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if b.startswith("make train"))
    joined = block.replace("\\\n", " ")
    return [line.split("  #", 1)[0].strip() for line in joined.splitlines() if line.strip()]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_train_then_serve_then_infer_as_the_readme_says() -> None:
    train, serve, infer = _readme_block()
    assert (train, serve) == ("make train", "make serve") and infer.startswith("curl ")
    if not _port_free(8080):
        pytest.fail("port 8080 is taken: the README's commands serve there")
    subprocess.run(shlex.split(train), cwd=REPO, check=True, capture_output=True, timeout=600)
    # Its own process group: make and the server it starts stop together, and nothing else does.
    server = subprocess.Popen(
        shlex.split(serve), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        answer = None
        for _ in range(150):
            result = subprocess.run([*shlex.split(infer), "-w", "\n%{http_code}"], capture_output=True, text=True)
            body, _, status = result.stdout.rpartition("\n")
            if status == "200":
                answer = json.loads(body)
                break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "make serve exited"
            time.sleep(0.2)
        assert answer is not None, "the infer example never got a 200"
        labels = next(output for output in answer["outputs"] if output["name"] == "class_name")["data"]
        assert labels and labels[0].startswith("class_")
        latest = (REPO / "artifacts" / "model" / "latest").resolve()
        assert answer["model_version"] == latest.name
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
