"""The drift contract: how live rows are binned against the training reference and compared with
it. Standard library only, so that every reader of production data applies it the same way: the
pods (their bin counters and the recording rules follow it; tests/service/test_metrics.py holds
them to it) and the drift Lambda that watches what a SageMaker endpoint captured
(drift_monitor/handler.py, which ships this module).

The reference is `drift_reference.json` from the model artifact: per feature, the interior bin
edges (bin i holds values in (edges[i-1], edges[i]]; the last bin is open) and the share of
training rows per bin; and the share of each predicted class on the training rows.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Where the drift Lambda publishes a SageMaker endpoint's quality (dimension EndpointName).
CLOUDWATCH_NAMESPACE = "MLOps/ModelQuality"
CLOUDWATCH_METRICS = (
    "CapturedRows",
    "FeaturePSI",
    "FeatureKS",
    "MaxFeaturePSI",
    "PredictionPSI",
    "LabelledRows",
    "Accuracy",
)
# Floor for empty bins in the PSI (ln(0) is undefined); the recording rules use the same value.
PSI_FLOOR = 1e-4


def bin_index(value: float, edges: Sequence[float]) -> int:
    """The bin of `value`: the number of edges strictly below it."""
    return bisect_left(edges, value)


def bin_counts(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[bisect_left(edges, value)] += 1
    return counts


def psi(live_counts: Sequence[float], reference_shares: Sequence[float], floor: float = PSI_FLOOR) -> float:
    """Population Stability Index of live bin counts against reference shares (0 with no rows)."""
    total = sum(live_counts)
    if total == 0:
        return 0.0
    index = 0.0
    for count, share in zip(live_counts, reference_shares, strict=True):
        actual = max(count / total, floor)
        expected = max(share, floor)
        index += (actual - expected) * math.log(actual / expected)
    return index


def ks_distance(live_counts: Sequence[float], reference_shares: Sequence[float]) -> float:
    """Binned Kolmogorov-Smirnov distance: the largest gap between the live and reference CDFs."""
    total = sum(live_counts)
    if total == 0:
        return 0.0
    gap = live = reference = 0.0
    for count, share in zip(live_counts, reference_shares, strict=True):
        live += count / total
        reference += share
        gap = max(gap, abs(live - reference))
    return gap


def class_psi(predicted: Mapping[str, int], reference_shares: Mapping[str, float]) -> float:
    """PSI of the predicted-class distribution against the classes' shares on the training rows."""
    classes = sorted(set(reference_shares) | set(predicted))
    return psi([predicted.get(name, 0) for name in classes], [reference_shares.get(name, 0.0) for name in classes])


def window_report(
    rows: Sequence[Sequence[float]], predicted: Sequence[str], reference: Mapping[str, Any]
) -> dict[str, Any]:
    """Per-feature PSI and KS of `rows`, and the predicted-class PSI, against `reference` (the
    parsed drift_reference.json)."""
    features = {}
    for column, feature in enumerate(reference["features"]):
        counts = bin_counts((row[column] for row in rows), feature["edges"])
        features[feature["name"]] = {
            "psi": psi(counts, feature["shares"]),
            "ks": ks_distance(counts, feature["shares"]),
        }
    classes: dict[str, int] = {}
    for name in predicted:
        classes[name] = classes.get(name, 0) + 1
    return {
        "rows": len(rows),
        "features": features,
        "prediction_psi": class_psi(classes, reference["class_shares"]),
    }
