"""A training dataset version on disk: `data.csv` (the model's features, then `label` and
`source`: production or reference) and `manifest.json` (what it holds, with the CSV's sha256).
learning/datasets.py writes versions; training reads them (and checks the hash) here, in the
service's package, so a training image needs nothing else."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_FILE = "data.csv"
MANIFEST_FILE = "manifest.json"
LABEL_COLUMN = "label"
SOURCE_COLUMN = "source"


class DatasetError(Exception):
    """The dataset cannot be built or read as asked; the message says why."""


def dataset_csv(feature_names: Sequence[str], rows: Sequence[tuple[Sequence[float], str, str]]) -> bytes:
    """(features, label, source) rows as the CSV a version holds (floats written exactly)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*feature_names, LABEL_COLUMN, SOURCE_COLUMN])
    for features, label, source in rows:
        writer.writerow([*(repr(float(value)) for value in features), label, source])
    return out.getvalue().encode()


@dataclass(frozen=True)
class Dataset:
    manifest: dict[str, Any]
    feature_names: list[str]
    features: list[list[float]]
    labels: list[str]
    sources: list[str]

    def only(self, source: str) -> Dataset:
        keep = [i for i, value in enumerate(self.sources) if value == source]
        return Dataset(
            self.manifest,
            self.feature_names,
            [self.features[i] for i in keep],
            [self.labels[i] for i in keep],
            [source] * len(keep),
        )


def read_dataset(directory: Path) -> Dataset:
    """A dataset version as downloaded (data.csv and manifest.json), its hash checked."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        body = (directory / DATA_FILE).read_bytes()
    except (OSError, ValueError) as error:
        raise DatasetError(f"{directory} is not a dataset version: {error}") from error
    if hashlib.sha256(body).hexdigest() != manifest.get("sha256"):
        raise DatasetError(f"{directory / DATA_FILE} does not match its manifest's sha256: refusing to train on it")
    reader = csv.reader(io.StringIO(body.decode()))
    header = next(reader)
    width = len(header) - 2
    features, labels, sources = [], [], []
    for line in reader:
        features.append([float(value) for value in line[:width]])
        labels.append(line[width])
        sources.append(line[width + 1])
    return Dataset(manifest, header[:width], features, labels, sources)
