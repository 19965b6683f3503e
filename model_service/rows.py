"""Rows of features, as both serving paths accept them: the one contract for what a valid row is.

Standard library only: the Lambda proxy (inference_proxy/) carries this module beside its handler,
so that a request the proxy lets through is one the container accepts, and a bad one is refused
with the same status and reason on both paths. Every way rows can be wrong ends in `InputError`
with an HTTP status, a bounded reason (a metric label) and a message that names the problem.
"""

from __future__ import annotations

import math
from typing import Any


class InputError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def validated(values: list[Any], features: int) -> list[Any]:
    """`values` if every one is a finite number (not a bool, not a string), else `InputError` naming
    the first bad value by row and column. Returned unchanged: the batcher builds one array a batch."""
    for value in values:
        kind = type(value)
        if kind is not float and kind is not int:
            break
    else:
        try:
            if math.isfinite(math.fsum(values)):
                return values
        except OverflowError:
            pass
    for index, value in enumerate(values):
        row, column = divmod(index, features)
        kind = type(value)
        if kind is not float and kind is not int:
            raise InputError(
                400, "non_numeric", f"value at row {row}, column {column} is {value!r}: every feature must be a number"
            )
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise InputError(
                400,
                "non_finite",
                f"value at row {row}, column {column} is {value}: NaN, infinity "
                "and numbers beyond float64 are not accepted",
            )
    return values  # finite values whose sum overflowed


def check_row_count(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise InputError(400, "empty_batch", "the batch is empty: send at least one row")
    if rows > max_rows:
        raise InputError(
            413,
            "too_many_rows",
            f"{rows} rows in one request; the limit is {max_rows}: split the batch",
        )


def parse_sagemaker_json(document: Any, features: int, max_rows: int) -> tuple[list[Any], int]:
    """`[[f1..fN], ...]`, `{"instances": [[...], ...]}` or one flat row `[f1..fN]`: the values of
    every row in one flat list, and the row count."""
    if isinstance(document, dict):
        document = document.get("instances")
    if not isinstance(document, list):
        raise InputError(400, "schema", 'expected a list of rows or {"instances": [rows]}')
    if document and not isinstance(document[0], list):
        document = [document]
    check_row_count(len(document), max_rows)
    for index, row in enumerate(document):
        if not isinstance(row, list) or len(row) != features:
            count = len(row) if isinstance(row, list) else "no"
            raise InputError(400, "feature_count", f"row {index} has {count} features; the model takes {features}")
    return validated([value for row in document for value in row], features), len(document)
