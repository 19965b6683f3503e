"""The rows the load generator sends: the wine data set with its true classes, as the JSON file
the locustfile reads (shipped to the cluster in a ConfigMap; the Locust image has no scikit-learn)."""

from __future__ import annotations

import json


def wine_rows() -> dict[str, object]:
    """{"features": [names], "rows": [[13 values]], "labels": [class index]}, plus each feature's
    standard deviation (the drift switch shifts by a number of them)."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    return {
        "features": list(wine.feature_names),
        "rows": wine.data.tolist(),
        "labels": wine.target.tolist(),
        "stds": wine.data.std(axis=0).tolist(),
    }


def wine_rows_json() -> str:
    return json.dumps(wine_rows(), separators=(",", ":"))
