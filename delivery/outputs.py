"""Stack outputs, the contract delivery jobs read (`pulumi stack output --json`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


class OutputsError(Exception):
    """The outputs could not be read; the message says why and what to do."""


def stack_outputs(stack: str | None, outputs_file: Path | None = None, pulumi: str = "pulumi") -> dict[str, Any]:
    """The outputs of `stack` (the selected stack when None), from the CLI or a saved JSON file."""
    if outputs_file is not None:
        text = outputs_file.read_text()
    else:
        command = [pulumi, "stack", "output", "--json"]
        command += ["--stack", stack] if stack else []
        try:
            text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise OutputsError(
                f"the Pulumi CLI ({pulumi}) is not installed; pass a saved outputs file instead"
            ) from None
        except subprocess.CalledProcessError as error:
            raise OutputsError(f"`{' '.join(command)}` failed: {error.stderr.strip()}") from None
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(f"stack outputs are not JSON ({error.msg}); expected `pulumi stack output --json`") from None
    if not isinstance(outputs, dict):
        raise OutputsError("stack outputs are not a JSON object; expected `pulumi stack output --json`")
    return outputs
