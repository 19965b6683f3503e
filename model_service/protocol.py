"""Request parsing for the Open Inference Protocol (KServe v2) and the SageMaker contract.

Every way a request can be wrong ends in `InputError` with an HTTP status, a bounded reason (a
metric label) and a message that names the problem; nothing here can raise anything else.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson


class InputError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        hint = " (NaN and Infinity are not JSON numbers)" if b"NaN" in body or b"Infinity" in body else ""
        raise InputError(400, "malformed_json", f"malformed JSON: {error}{hint}") from None


def _check_numbers(values: list[Any], features: int) -> None:
    for index, value in enumerate(values):
        kind = type(value)
        if kind is not float and kind is not int:
            row, column = divmod(index, features)
            raise InputError(400, "non_numeric", f"value at row {row}, column {column} is {value!r}: "
                                                 "every feature must be a number")


def _as_rows(values: list[Any], rows: int, features: int) -> np.ndarray:
    _check_numbers(values, features)
    array = np.array(values, dtype=np.float64).reshape(rows, features)
    if not np.isfinite(array).all():
        row, column = (int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InputError(400, "non_finite", f"value at row {row}, column {column} is {array[row, column]}: "
                                            "NaN and infinity are not accepted")
    return array


def _check_row_count(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise InputError(400, "empty_batch", "the batch is empty: send at least one row")
    if rows > max_rows:
        raise InputError(413, "too_many_rows", f"{rows} rows in one request; the limit is {max_rows} "
                                               "(MAX_ROWS_PER_REQUEST): split the batch")


def parse_v2_request(document: Any, features: int, max_rows: int) -> tuple[np.ndarray, str | None]:
    """Rows and the optional request id of a v2 inference request with one FP32/FP64 tensor [N, features]."""
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise InputError(400, "schema", 'expected a JSON object with an "inputs" list of tensors')
    inputs = document["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InputError(400, "schema", f'expected exactly one input tensor, got {len(inputs)}')
    tensor = inputs[0]
    if tensor.get("datatype") not in ("FP32", "FP64"):
        raise InputError(400, "datatype", f"input datatype is {tensor.get('datatype')!r}; FP32 or FP64 expected")
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(type(dim) is int and dim >= 0 for dim in shape)):
        raise InputError(400, "shape", f"input shape is {shape!r}; expected [N, {features}]")
    rows, columns = shape
    if columns != features:
        raise InputError(400, "feature_count", f"input shape {shape} has {columns} features; the model takes "
                                               f"{features}")
    _check_row_count(rows, max_rows)
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InputError(400, "schema", 'input "data" must be a list of numbers')
    if data and isinstance(data[0], list):
        if not all(isinstance(row, list) for row in data):
            raise InputError(400, "shape", 'input "data" mixes rows and numbers')
        data = [value for row in data for value in row]
    if len(data) != rows * columns:
        raise InputError(400, "shape", f"input data has {len(data)} values; shape {shape} needs {rows * columns}")
    request_id = document.get("id")
    if request_id is not None and (not isinstance(request_id, str) or not 0 < len(request_id) <= 128):
        raise InputError(400, "schema", '"id" must be a string of 1 to 128 characters')
    return _as_rows(data, rows, columns), request_id


def parse_sagemaker_json(document: Any, features: int, max_rows: int) -> np.ndarray:
    """`[[f1..fN], ...]`, `{"instances": [[...], ...]}` or one flat row `[f1..fN]`."""
    if isinstance(document, dict):
        document = document.get("instances")
    if not isinstance(document, list):
        raise InputError(400, "schema", 'expected a list of rows or {"instances": [rows]}')
    if document and not isinstance(document[0], list):
        document = [document]
    _check_row_count(len(document), max_rows)
    for index, row in enumerate(document):
        if not isinstance(row, list) or len(row) != features:
            count = len(row) if isinstance(row, list) else "no"
            raise InputError(400, "feature_count", f"row {index} has {count} features; the model takes {features}")
    return _as_rows([value for row in document for value in row], len(document), features)


def parse_csv(body: bytes, features: int, max_rows: int) -> np.ndarray:
    """Rows of comma-separated numbers, no header."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InputError(400, "non_numeric", "CSV body is not UTF-8 text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    _check_row_count(len(lines), max_rows)
    values: list[float] = []
    for row, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != features:
            raise InputError(400, "feature_count", f"CSV row {row} has {len(cells)} values; the model takes {features}")
        for column, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                raise InputError(400, "non_numeric", f"CSV row {row}, column {column} is {cell.strip()!r}: "
                                                     "not a number") from None
            if not math.isfinite(value):
                raise InputError(400, "non_finite", f"CSV row {row}, column {column} is {cell.strip()}: NaN and "
                                                    "infinity are not accepted")
            values.append(value)
    return np.array(values, dtype=np.float64).reshape(len(lines), features)
