"""A Lambda function's package, unpacked as Lambda unpacks it, and what its handler imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def unpack(files: Mapping[str, Path], folder: Path) -> Path:
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(source.read_bytes())
    return folder


def imported_project_modules(folder: Path, extra: str = "") -> list[str]:
    """Import `handler` from `folder` alone (plus `extra` statements); the `model_service`
    modules it loaded, and any lines `extra` printed before them."""
    probe = (
        f"import sys; sys.path.insert(0, '.'); import handler; {extra}"
        "print(sorted(m for m in sys.modules if m.startswith('model_service')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=folder, capture_output=True, text=True, check=True)
    return result.stdout.splitlines()
