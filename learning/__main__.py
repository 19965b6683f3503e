"""`python -m learning`: build a dataset version from production data, and compare a challenger
with the champion (gate and replay) before it is registered.

  dataset   join captured requests with their labels over a window, add the reference data,
            write data.csv and manifest.json to s3://<datasets>/<prefix>/<version>/
  compare   score challenger and champion on a dataset version's production rows, replay the
            window's captured traffic through both; exit 0 if the gate passes, 3 if it refuses

Exit status 2: bad arguments or data that cannot be used (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from learning.comparison import GateRules, gate, markdown, replay
from learning.datasets import Window, build_dataset, captured_rows, download_dataset
from model_service.capture import parse_s3_uri
from model_service.dataset_format import DatasetError, read_dataset

EXIT_REFUSED = 3


def _window(args: argparse.Namespace) -> Window:
    end = datetime.fromisoformat(args.end.replace("Z", "+00:00")) if args.end else datetime.now(UTC)
    if end.tzinfo is None:
        raise DatasetError(f"--end {args.end!r} needs a timezone (for example 2026-12-06T00:00:00Z)")
    return Window(end - timedelta(days=args.days), end, timedelta(hours=args.label_grace_hours))


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def _dataset(args: argparse.Namespace) -> int:
    capture_bucket, capture_prefix = parse_s3_uri(args.capture_uri)
    truth_bucket, truth_prefix = parse_s3_uri(args.ground_truth_uri)
    if truth_bucket != capture_bucket:
        raise DatasetError("capture and ground truth live in one bucket (the capture bucket)")
    datasets_bucket, datasets_prefix = parse_s3_uri(args.to)
    manifest = build_dataset(
        _s3(),
        capture_bucket=capture_bucket,
        capture_prefix=capture_prefix,
        ground_truth_prefix=truth_prefix,
        window=_window(args),
        datasets_bucket=datasets_bucket,
        datasets_prefix=datasets_prefix,
        include_reference=not args.no_reference,
    )
    print(json.dumps(manifest.to_json(), indent=2))
    return 0


def _model(location: str, workdir: Path) -> Any:
    from model_service.artifact import fetch_s3_archive, load_model, unpack

    if location.startswith("s3://"):
        return load_model(unpack(fetch_s3_archive(location, workdir, _s3()), workdir))
    return load_model(Path(location))


def _compare(args: argparse.Namespace) -> int:
    rules = GateRules(args.min_labelled_rows, args.min_accuracy, args.max_accuracy_drop, args.max_recall_drop)
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        workdir = Path(tmp)
        dataset = read_dataset(download_dataset(_s3(), args.dataset, workdir / "dataset"))
        production = dataset.only("production")
        challenger = _model(args.challenger, workdir / "challenger")
        champion = _model(args.champion, workdir / "champion") if args.champion else None
        scored = production
        if champion is None and len(production.labels) < rules.min_labelled_rows:
            # The first model (nothing serves yet): too few production labels to score it on, so it
            # is scored on the reference rows; with a champion, too few labels refuse instead.
            scored = dataset.only("reference")
        report = gate(challenger, champion, scored.features, scored.labels, rules)
        replayed = None
        if champion is not None and args.capture_uri:
            bucket, prefix = parse_s3_uri(args.capture_uri)
            manifest = dataset.manifest
            window = Window(
                datetime.fromisoformat(manifest["window_start"].replace("Z", "+00:00")),
                datetime.fromisoformat(manifest["window_end"].replace("Z", "+00:00")),
            )
            replayed = replay(champion, challenger, captured_rows(_s3(), bucket, prefix, window))
    document = {
        "dataset": dataset.manifest["version"],
        "scored_on": scored.sources[0] if scored.sources else "production",
        "gate": report.to_json(),
        "replay": replayed.to_json() if replayed else None,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    text = markdown(report, replayed)
    if document["scored_on"] == "reference":
        text += "\nNo model serves yet: the challenger was scored on the reference rows of the dataset.\n"
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)
    return 0 if report.passed else EXIT_REFUSED


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m learning", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)
    dataset = commands.add_parser("dataset", help="build a dataset version from capture and labels")
    dataset.add_argument("--capture-uri", required=True, metavar="s3://capture/cluster/model-service")
    dataset.add_argument("--ground-truth-uri", required=True, metavar="s3://capture/ground-truth/cluster/model-service")
    dataset.add_argument("--to", required=True, metavar="s3://datasets/wine", help="where versions are written")
    dataset.add_argument("--days", type=float, default=7.0, help="window length in days (default 7)")
    dataset.add_argument("--end", help="window end, ISO 8601 with a timezone (default: now)")
    dataset.add_argument("--label-grace-hours", type=float, default=24.0, help="labels may come this late")
    dataset.add_argument("--no-reference", action="store_true", help="production rows only")
    dataset.set_defaults(run=_dataset)

    compare = commands.add_parser("compare", help="gate a challenger against the champion, replay traffic")
    compare.add_argument("--challenger", required=True, help="the new model's artifact directory")
    compare.add_argument("--champion", help="the serving model: s3://.../model.tar.gz or a directory")
    compare.add_argument("--dataset", required=True, metavar="s3://datasets/wine/<version>/")
    compare.add_argument("--capture-uri", help="captured traffic to replay (the dataset's window)")
    defaults = GateRules()
    compare.add_argument("--min-labelled-rows", type=int, default=defaults.min_labelled_rows)
    compare.add_argument("--min-accuracy", type=float, default=defaults.min_accuracy)
    compare.add_argument("--max-accuracy-drop", type=float, default=defaults.max_accuracy_drop)
    compare.add_argument("--max-recall-drop", type=float, default=defaults.max_recall_drop)
    compare.add_argument("--json", help="write the report (gate and replay) here")
    compare.add_argument("--markdown", help="write the pull request's comparison here")
    compare.set_defaults(run=_compare)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
