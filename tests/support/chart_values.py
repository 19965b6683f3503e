"""Write the values every Helm release of a stack receives, as YAML files, so that anyone with the
charts can render them for real:

    python -m tests.support.chart_values --stack dev --out build/chart-values
    helm template kube-prometheus-stack charts/vendor/kube-prometheus-stack-88.5.3.tgz \\
        -f build/chart-values/dev/kube-prometheus-stack.yaml

Values come from running the program under mocks (tests/support/pulumi_harness.py); values that
are Pulumi secrets never appear in them (the charts read Secrets by name).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from tests.support.pulumi_harness import run_program


def release_values(stack: str) -> dict[str, dict[str, Any]]:
    """Release name -> {chart, namespace, values} for one stack (chart: a path in the project)."""
    run = run_program(stack)
    found = {}
    for release in run.of_type("kubernetes:helm.sh/v3:Release"):
        inputs = release.inputs
        found[inputs["name"]] = {
            "chart": inputs["chart"],
            "namespace": inputs.get("namespace"),
            "values": inputs.get("values", {}),
        }
    return found


def write(stack: str, out: Path) -> list[Path]:
    target = out / stack
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, release in release_values(stack).items():
        path = target / f"{name}.yaml"
        header = f"# chart {release['chart']}, namespace {release['namespace']}\n"
        path.write_text(header + yaml.safe_dump(release["values"], sort_keys=False))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", choices=["local", "dev", "prod"], action="append", required=True)
    parser.add_argument("--out", type=Path, default=Path("build/chart-values"))
    args = parser.parse_args()
    for stack in args.stack:
        for path in write(stack, args.out):
            print(path)


if __name__ == "__main__":
    main()
