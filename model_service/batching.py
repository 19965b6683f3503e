"""Adaptive micro-batching: concurrent requests share one model call.

A model call costs about the same for 1 row as for 32, so rows that arrive while the event loop is
busy wait for the next loop iteration and go together. A batch is closed when it is full, when an
iteration brings no new rows (the loop is idle: waiting longer would only add latency), or when
its oldest row has waited `max_wait_seconds`. The model runs inline on the event loop: it takes
microseconds, and a thread hop would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
# (rows, probabilities, predicted class indices, seconds the model took)
OnBatch = Callable[[np.ndarray, np.ndarray, np.ndarray, float], None]
# What a request gets back: predicted class indices and probabilities, as Python lists.
Result = tuple[list[int], list[list[float]]]


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        features: int,
        max_batch_size: int,
        max_wait_seconds: float,
        on_batch: OnBatch | None = None,
    ) -> None:
        self.predict = predict
        self.features = features
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max_wait_seconds
        self.on_batch = on_batch
        self._values: list[float] = []
        self._counts: list[int] = []
        self._futures: list[asyncio.Future[Result]] = []
        self._pending_rows = 0
        self._seen_at_last_check = 0
        self._started = 0.0
        self._scheduled = False
        # Bumped by every flush, so a check scheduled for an earlier batch does nothing.
        self._generation = 0

    def submit(self, values: list[float], rows: int) -> asyncio.Future[Result]:
        """A future of the predictions for `rows` rows given as one flat list of `rows * features`
        numbers, computed in a batch with whatever else is waiting. (A plain function returning a
        future, not a coroutine: one layer less to suspend and resume on the hot path.)"""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._values.extend(values)
        self._counts.append(rows)
        self._futures.append(future)
        self._pending_rows += rows
        if self._pending_rows >= self.max_batch_size:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._started = time.perf_counter()
            self._seen_at_last_check = len(self._futures)
            loop.call_soon(self._check, self._generation)
        return future

    def _check(self, generation: int) -> None:
        if generation != self._generation:
            return
        arrived = len(self._futures) > self._seen_at_last_check
        waited = time.perf_counter() - self._started
        if arrived and waited < self.max_wait_seconds:
            self._seen_at_last_check = len(self._futures)
            asyncio.get_running_loop().call_soon(self._check, generation)
            return
        self._flush()

    def _flush(self) -> None:
        values, counts, futures = self._values, self._counts, self._futures
        self._values, self._counts, self._futures, self._pending_rows, self._scheduled = [], [], [], 0, False
        self._generation += 1
        batch = np.array(values, dtype=np.float64).reshape(-1, self.features)
        started = time.perf_counter()
        try:
            probabilities = self.predict(batch)
        except Exception as error:  # the model failed: every waiting request gets the error
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        seconds = time.perf_counter() - started
        labels = probabilities.argmax(axis=1)
        if self.on_batch is not None:
            self.on_batch(batch, probabilities, labels, seconds)
        label_list, probability_list = labels.tolist(), probabilities.tolist()
        offset = 0
        for count, future in zip(counts, futures, strict=True):
            if not future.done():  # a client that went away cancelled its future
                future.set_result((label_list[offset : offset + count], probability_list[offset : offset + count]))
            offset += count
