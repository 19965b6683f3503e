"""Realistic traffic for the model service, with delayed labels and a drift switch (Locust).

Each simulated client sends one wine row at a time to the Open Inference Protocol route, waits
about a second, and sends the row's true class to /feedback LABEL_DELAY_SECONDS later (the delayed
labels a labelling team would send), so every panel of the dashboards, accuracy included, has data.
With DRIFT=on, DRIFT_FEATURE is shifted by DRIFT_SHIFT_STDS standard deviations: the drift alerts
fire within minutes (make drift-demo). Settings are environment variables:
  WINE_ROWS            the rows file (loadgen/rows.py writes it)
  FEEDBACK_TOKEN       the /feedback credential (the model-service-feedback Secret); empty: no labels
  LABEL_DELAY_SECONDS  default 30
  WAIT_SECONDS         mean pause between a client's requests, default 1
  DRIFT                on or off (default off)
  DRIFT_FEATURE, DRIFT_SHIFT_STDS   default alcohol, 2
  MODEL_NAME           default wine-classifier
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque

from locust import HttpUser, between, task

DATA = json.loads(open(os.environ.get("WINE_ROWS", "/mnt/loadgen/wine.json")).read())  # noqa: SIM115 (read once)
MODEL = os.environ.get("MODEL_NAME", "wine-classifier")
TOKEN = os.environ.get("FEEDBACK_TOKEN", "")
LABEL_DELAY = float(os.environ.get("LABEL_DELAY_SECONDS", "30"))
WAIT = float(os.environ.get("WAIT_SECONDS", "1"))
DRIFT = os.environ.get("DRIFT", "off").lower() in ("on", "true", "1")
DRIFT_COLUMN = DATA["features"].index(os.environ.get("DRIFT_FEATURE", "alcohol"))
DRIFT_SHIFT = float(os.environ.get("DRIFT_SHIFT_STDS", "2")) * DATA["stds"][DRIFT_COLUMN]
# Labels waiting for their delay, at most this many per client (a slow /feedback loses the oldest).
MAX_PENDING_LABELS = 10_000


def features(index: int) -> list[float]:
    row = list(DATA["rows"][index])
    if DRIFT:
        row[DRIFT_COLUMN] += DRIFT_SHIFT
    return row


class WineClient(HttpUser):
    wait_time = between(WAIT / 2, WAIT * 3 / 2)

    def on_start(self) -> None:
        self.pending: deque[tuple[float, str, int]] = deque(maxlen=MAX_PENDING_LABELS)

    @task
    def predict(self) -> None:
        index = random.randrange(len(DATA["rows"]))
        body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 13], "data": features(index)}]}
        with self.client.post(f"/v2/models/{MODEL}/infer", json=body, name="infer", catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
                return
            feedback_id = (answer.json().get("parameters") or {}).get("feedback_id")
        if TOKEN and feedback_id:
            self.pending.append((time.monotonic() + LABEL_DELAY, feedback_id, DATA["labels"][index]))
        self.send_due_labels()

    def send_due_labels(self) -> None:
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _, feedback_id, label = self.pending.popleft()
            self.client.post(
                "/feedback",
                json={"feedback_id": feedback_id, "label": label},
                headers={"authorization": f"Bearer {TOKEN}"},
                name="feedback",
            )
