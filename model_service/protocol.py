"""Request parsing for the Open Inference Protocol (KServe v2) and the SageMaker contract.

Every way a request can be wrong ends in `InputError` with an HTTP status, a bounded reason (a
metric label) and a message that names the problem; nothing here can raise anything else. Rows come
back as one flat list of numbers and a row count: the batcher makes one array for a whole batch.
What a valid row is lives in `rows`, which the Lambda proxy shares.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from model_service.rows import InputError, check_row_count, parse_sagemaker_json, validated

__all__ = ["InputError", "parse_csv", "parse_json", "parse_sagemaker_json", "parse_v2_request"]


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "infinity" in str(error):
            raise InputError(
                400, "non_finite", f"a number is beyond float64 ({error}): NaN and infinity are not accepted"
            ) from None
        hint = " (NaN and Infinity are not JSON numbers)" if b"NaN" in body or b"Infinity" in body else ""
        raise InputError(400, "malformed_json", f"malformed JSON: {error}{hint}") from None


def parse_v2_request(document: Any, features: int, max_rows: int) -> tuple[list[Any], int, str | None]:
    """Rows and the optional request id of a v2 inference request with one FP32/FP64 tensor [N, features]."""
    inputs = document.get("inputs") if type(document) is dict else None
    if type(inputs) is not list:
        raise InputError(400, "schema", 'expected a JSON object with an "inputs" list of tensors')
    if len(inputs) != 1 or type(inputs[0]) is not dict:
        raise InputError(400, "schema", f"expected exactly one input tensor, got {len(inputs)}")
    tensor = inputs[0]
    datatype = tensor.get("datatype")
    if datatype not in ("FP64", "FP32"):
        raise InputError(400, "datatype", f"input datatype is {datatype!r}; FP32 or FP64 expected")
    shape = tensor.get("shape")
    if (
        type(shape) is not list
        or len(shape) != 2
        or type(shape[0]) is not int
        or type(shape[1]) is not int
        or shape[0] < 0
    ):
        raise InputError(400, "shape", f"input shape is {shape!r}; expected [N, {features}]")
    rows, columns = shape
    if columns != features:
        raise InputError(
            400, "feature_count", f"input shape {shape} has {columns} features; the model takes {features}"
        )
    if rows == 0 or rows > max_rows:
        check_row_count(rows, max_rows)
    data = tensor.get("data")
    if type(data) is not list:
        raise InputError(400, "schema", 'input "data" must be a list of numbers')
    if data and type(data[0]) is list:
        if not all(type(row) is list for row in data):
            raise InputError(400, "shape", 'input "data" mixes rows and numbers')
        data = [value for row in data for value in row]
    if len(data) != rows * columns:
        raise InputError(400, "shape", f"input data has {len(data)} values; shape {shape} needs {rows * columns}")
    request_id = document.get("id")
    if request_id is not None and (not isinstance(request_id, str) or not 0 < len(request_id) <= 128):
        raise InputError(400, "schema", '"id" must be a string of 1 to 128 characters')
    return validated(data, columns), rows, request_id


def parse_csv(body: bytes, features: int, max_rows: int) -> tuple[list[Any], int]:
    """Rows of comma-separated numbers, no header."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InputError(400, "non_numeric", "CSV body is not UTF-8 text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    check_row_count(len(lines), max_rows)
    values: list[float] = []
    for row, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != features:
            raise InputError(400, "feature_count", f"CSV row {row} has {len(cells)} values; the model takes {features}")
        for column, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                raise InputError(
                    400, "non_numeric", f"CSV row {row}, column {column} is {cell.strip()!r}: not a number"
                ) from None
            if not math.isfinite(value):
                raise InputError(
                    400,
                    "non_finite",
                    f"CSV row {row}, column {column} is {cell.strip()}: NaN and infinity are not accepted",
                )
            values.append(value)
    return values, len(lines)
