"""How long a whole-stack evaluation under Pulumi mocks takes: `python -m bench.stack_eval`.

Runs the program of each stack under mocks (tests/support/pulumi_harness.py) a few times, with a
model version set so that the AWS stacks include the managed inference path, and prints the
resource count and the median wall time; the first run of the process includes
importing the cloud SDKs and is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.support.pulumi_harness import run_program

OVERRIDES: dict[str, dict[str, object]] = {"local": {}, "dev": {"modelVersion": "v1"}, "prod": {"modelVersion": "v1"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stack_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="evaluations per stack (the median is reported)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    started = time.perf_counter()
    run_program("prod", overrides=OVERRIDES["prod"])
    print(f"first run (imports included): {time.perf_counter() - started:.2f}s")
    for stack in ("local", "dev", "prod"):
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            run = run_program(stack, overrides=OVERRIDES[stack])
            timings.append(time.perf_counter() - started)
        print(f"{stack:>5}: {len(run.resources):>3} resources, median {statistics.median(timings):.2f}s per evaluation")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
