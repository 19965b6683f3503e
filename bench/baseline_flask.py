"""The baseline, written the way the reference tutorials serve a scikit-learn model: Flask behind
gunicorn with sync workers, the pickled model loaded at import, `model.predict` per request.

Run: MODEL_DIR=<artifact dir> gunicorn -w 2 -b 127.0.0.1:8093 bench.baseline_flask:app
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
from flask import Flask, jsonify, request

app = Flask(__name__)
model = joblib.load(Path(os.environ["MODEL_DIR"]) / "model.joblib")


@app.route("/predict", methods=["POST"])
def predict() -> Any:
    features = request.get_json()["features"]
    prediction = model.predict([features])
    return jsonify({"prediction": int(prediction[0])})
