"""Drift reference and live binning.

At training time each feature gets bin edges at its training quantiles and the share of training
rows in each bin. At serving time every row is counted into the same bins; Prometheus compares the
live shares with the reference shares (Population Stability Index) and the cumulative counts with
the reference CDF (binned Kolmogorov-Smirnov distance). `psi` and `ks_distance` here are the
reference implementations of the recording rules, used by the tests to check them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_service.drift_contract import PSI_FLOOR, ks_distance, psi

__all__ = ["PSI_FLOOR", "BinCounter", "DriftReference", "FeatureReference", "ks_distance", "psi"]

DEFAULT_BINS = 8
# Values beyond this magnitude count as this much in the per-feature sums.
SUM_LIMIT = 1e12


@dataclass(frozen=True)
class FeatureReference:
    name: str
    # Interior cut points, ascending; bin i holds values in (edges[i-1], edges[i]]; the last bin is open.
    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @property
    def bin_count(self) -> int:
        return len(self.edges) + 1


@dataclass(frozen=True)
class DriftReference:
    features: tuple[FeatureReference, ...]
    class_shares: Mapping[str, float]
    rows: int

    @classmethod
    def fit(
        cls, data: np.ndarray, feature_names: Sequence[str], predicted: Sequence[str], bins: int = DEFAULT_BINS
    ) -> DriftReference:
        """Reference from training rows: quantile edges per feature (duplicates merged, so a
        feature with few distinct values gets fewer bins) and the predicted-class distribution."""
        if not 2 <= bins <= 20:
            raise ValueError(f"bins must be between 2 and 20, got {bins}")
        features = []
        quantiles = np.linspace(0, 1, bins + 1)[1:-1]
        for column, name in enumerate(feature_names):
            values = data[:, column]
            edges = _edges_between_values(values, np.unique(np.quantile(values, quantiles)))
            counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
            features.append(
                FeatureReference(name, tuple(float(e) for e in edges), tuple(float(c) for c in counts / len(values)))
            )
        labels, counts = np.unique(np.asarray(predicted), return_counts=True)
        class_shares = {str(label): float(count) / len(predicted) for label, count in zip(labels, counts, strict=True)}
        return cls(tuple(features), class_shares, len(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": [{"name": f.name, "edges": list(f.edges), "shares": list(f.shares)} for f in self.features],
            "class_shares": dict(self.class_shares),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DriftReference:
        features = tuple(
            FeatureReference(item["name"], tuple(map(float, item["edges"])), tuple(map(float, item["shares"])))
            for item in document["features"]
        )
        for feature in features:
            if len(feature.shares) != feature.bin_count or list(feature.edges) != sorted(feature.edges):
                raise ValueError(
                    f"drift reference for {feature.name!r} is inconsistent: "
                    f"{len(feature.edges)} edges need {len(feature.edges) + 1} shares, ascending edges"
                )
        return cls(features, dict(document["class_shares"]), int(document["rows"]))


def _edges_between_values(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Move each cut point up to halfway to the next distinct training value.

    Quantiles of measured data often land exactly on a repeated value (alcalinity_of_ash has many
    rows at 16.0, 18.0, 20.0); an edge sitting on such a value would split those rows' live twins
    by rounding noise alone. Halfway to the next value keeps every training row in the same bin
    and leaves a margin on both sides.
    """
    distinct = np.unique(values)
    moved = []
    for cut in cuts:
        above = distinct[distinct > cut]
        moved.append((cut + above[0]) / 2 if len(above) else cut)
    return np.unique(np.asarray(moved))


class BinCounter:
    """Counts rows per feature and bin, vectorised over a whole batch."""

    def __init__(self, reference: DriftReference) -> None:
        self.reference = reference
        width = max(f.bin_count for f in reference.features)
        self._edges = [np.asarray(feature.edges, dtype=np.float64) for feature in reference.features]
        self.counts = np.zeros((len(reference.features), width), dtype=np.int64)
        self.sums = np.zeros(len(reference.features))

    def add(self, rows: np.ndarray) -> None:
        # bin = number of edges strictly below the value, i.e. (edge_{i-1}, edge_i] as in
        # DriftReference.fit: searchsorted's left side. Columns are copied contiguous first, which
        # makes each search several times faster than on a strided view.
        columns = np.ascontiguousarray(rows.T)
        counts = self.counts
        for index, edges in enumerate(self._edges):
            found = np.bincount(np.searchsorted(edges, columns[index]), minlength=len(edges) + 1)
            counts[index, : len(found)] += found
        # Clipped: a sum that reached infinity would stay there until the process restarts.
        self.sums += np.clip(rows, -SUM_LIMIT, SUM_LIMIT).sum(axis=0)
