"""Adaptive micro-batching: concurrent requests share one model call.

A model call costs about the same for 1 row as for 32, so rows that arrive while the event loop is
busy wait for the next loop iteration and go together. A batch is closed when it is full, when an
iteration brings no new rows (the loop is idle: waiting longer would only add latency), or when
its oldest row has waited `max_wait_seconds`. The model runs inline on the event loop: it takes
microseconds, and a thread hop would cost more than it saves.

Two checks run once per batch, vectorised, so the common path pays for them once: rows outside
the accepted range are refused (400 `out_of_range`) before the model sees them, and a request
whose rows came out with a non-finite probability fails (500 `model_output_not_finite`). Neither
reaches the metrics; the other requests of the batch are served as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model_service.errors import InputError

Predict = Callable[[np.ndarray], np.ndarray]
# (rows, probabilities, predicted class indices, seconds the model took)
OnBatch = Callable[[np.ndarray, np.ndarray, np.ndarray, float], None]


@dataclass(frozen=True, slots=True)
class Batch:
    """The model call a request's rows went into (for its trace): rows in it, when it started
    (perf_counter()) and how long it took."""

    rows: int
    started: float
    seconds: float


# What a request gets back: predicted class indices and probabilities, as Python lists, and the batch.
Result = tuple[list[int], list[list[float]], Batch]


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        features: int,
        max_batch_size: int,
        max_wait_seconds: float,
        on_batch: OnBatch | None = None,
        *,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
        feature_names: tuple[str, ...] = (),
    ) -> None:
        self.predict = predict
        self.bounds = bounds
        self.feature_names = feature_names
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
        if self.bounds is not None:
            outside = (batch < self.bounds[0]) | (batch > self.bounds[1])
            if outside.any():
                keep = self._fail_rows(outside, counts, futures, self._out_of_range)
                batch = batch[keep]
                counts, futures = _kept(counts, futures, keep)
                if not futures:
                    return
        started = time.perf_counter()
        try:
            probabilities = self.predict(batch)
        except Exception as error:  # the model failed: every waiting request gets the error
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        seconds = time.perf_counter() - started
        not_finite = ~np.isfinite(probabilities)
        if not_finite.any():
            keep = self._fail_rows(not_finite, counts, futures, self._not_finite)
            batch, probabilities = batch[keep], probabilities[keep]
            counts, futures = _kept(counts, futures, keep)
            if not futures:
                return
        labels = probabilities.argmax(axis=1)
        if self.on_batch is not None:
            self.on_batch(batch, probabilities, labels, seconds)
        label_list, probability_list = labels.tolist(), probabilities.tolist()
        shared = Batch(len(batch), started, seconds)
        offset = 0
        for count, future in zip(counts, futures, strict=True):
            if not future.done():  # a client that went away cancelled its future
                future.set_result(
                    (label_list[offset : offset + count], probability_list[offset : offset + count], shared)
                )
            offset += count

    @staticmethod
    def _fail_rows(
        bad: np.ndarray,
        counts: list[int],
        futures: list[asyncio.Future[Result]],
        error_for: Callable[[np.ndarray, int], InputError],
    ) -> np.ndarray:
        """Fail every request with a bad row (`bad`: rows x columns) and return the rows to keep."""
        bad_rows: np.ndarray = np.asarray(bad.any(axis=1))
        keep = np.ones(bad_rows.shape[0], dtype=np.bool_)
        offset = 0
        for count, future in zip(counts, futures, strict=True):
            part = bad_rows[offset : offset + count]
            if part.any():
                row = int(part.argmax())
                if not future.done():
                    future.set_exception(error_for(bad[offset + row], row))
                keep[offset : offset + count] = False
            offset += count
        return keep

    def _out_of_range(self, bad_columns: np.ndarray, row: int) -> InputError:
        assert self.bounds is not None
        column = int(bad_columns.argmax())
        name = self.feature_names[column] if column < len(self.feature_names) else f"column {column}"
        low, high = float(self.bounds[0][column]), float(self.bounds[1][column])
        return InputError(
            400,
            "out_of_range",
            f"row {row}, feature {name!r} is outside the accepted range [{low:.6g}, {high:.6g}] "
            "(the training range widened by FEATURE_RANGE_TOLERANCE training ranges on each side)",
        )

    @staticmethod
    def _not_finite(_: np.ndarray, row: int) -> InputError:
        return InputError(
            500,
            "model_output_not_finite",
            f"the model returned a non-finite probability for row {row}; nothing was recorded for this request",
        )


def _kept(
    counts: list[int], futures: list[asyncio.Future[Result]], keep: np.ndarray
) -> tuple[list[int], list[asyncio.Future[Result]]]:
    """The counts and futures of the requests whose rows are all kept."""
    kept_counts, kept_futures = [], []
    offset = 0
    for count, future in zip(counts, futures, strict=True):
        if keep[offset : offset + count].all():
            kept_counts.append(count)
            kept_futures.append(future)
        offset += count
    return kept_counts, kept_futures
