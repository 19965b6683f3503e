"""Request parsing for the Open Inference Protocol (KServe v2) and the SageMaker contract.

Every way a request can be wrong ends in `InputError` with an HTTP status, a bounded reason (a
metric label) and a message that names the problem; nothing here can raise anything else. Rows come
back as one flat list of numbers and a row count: the batcher makes one array for a whole batch.
What a valid row is lives in `rows`, which the Lambda proxy shares.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import orjson

from model_service.request import REQUEST_ID_PATTERN, REQUEST_ID_RULE
from model_service.rows import InputError, check_row_count, parse_sagemaker_json, validated

__all__ = [
    "OUTPUT_NAMES",
    "InputError",
    "V2Request",
    "parse_csv",
    "parse_json",
    "parse_sagemaker_json",
    "parse_v2_request",
    "split_binary_body",
]

# The output tensors of an inference response, in order.
OUTPUT_NAMES = ("label", "class_name", "probabilities")
# Little-endian element types of the binary tensor data extension.
_BINARY_TYPES: dict[str, np.dtype[Any]] = {"FP64": np.dtype("<f8"), "FP32": np.dtype("<f4")}


class V2Request(NamedTuple):
    values: list[Any]
    rows: int
    request_id: str | None
    # Output tensors asked for (None: all), and those to send as binary data.
    outputs: tuple[str, ...] | None
    binary_outputs: frozenset[str]


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


def split_binary_body(body: bytes, header_length: bytes) -> tuple[Any, bytes]:
    """The JSON part and the binary tensor data of a body sent with the binary tensor data
    extension (`Inference-Header-Content-Length` gives the JSON part's length)."""
    if not header_length.isdigit() or len(header_length) > 12:
        raise InputError(400, "binary_data", "Inference-Header-Content-Length must be a byte count")
    length = int(header_length)
    if length > len(body):
        raise InputError(
            400,
            "binary_data",
            f"Inference-Header-Content-Length is {length}, but the body has only {len(body)} bytes",
        )
    return parse_json(body[:length]), body[length:]


def parse_v2_request(document: Any, features: int, max_rows: int, binary: bytes | None = None) -> V2Request:
    """Rows, the optional request id and the requested outputs of a v2 inference request with one
    FP32/FP64 tensor [N, features], its data in JSON or (binary tensor data extension) in `binary`."""
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
    parameters = tensor.get("parameters")
    if type(parameters) is dict and "binary_data_size" in parameters:
        values = _binary_values(tensor, parameters["binary_data_size"], datatype, rows * columns, binary)
    else:
        values = _json_values(tensor.get("data"), shape, rows * columns, columns)
    request_id = document.get("id")
    if request_id is not None and (type(request_id) is not str or not REQUEST_ID_PATTERN.fullmatch(request_id)):
        raise InputError(400, "bad_request_id", f'"id" must be {REQUEST_ID_RULE}')
    outputs, binary_outputs = _requested_outputs(document)
    return V2Request(values, rows, request_id, outputs, binary_outputs)


def _json_values(data: Any, shape: list[int], count: int, columns: int) -> list[Any]:
    if type(data) is not list:
        raise InputError(400, "schema", 'input "data" must be a list of numbers')
    if data and type(data[0]) is list:
        if not all(type(row) is list for row in data):
            raise InputError(400, "shape", 'input "data" mixes rows and numbers')
        data = [value for row in data for value in row]
    if len(data) != count:
        raise InputError(400, "shape", f"input data has {len(data)} values; shape {shape} needs {count}")
    return validated(data, columns)


def _binary_values(tensor: dict[str, Any], size: Any, datatype: str, count: int, binary: bytes | None) -> list[Any]:
    element = _BINARY_TYPES[datatype]
    if binary is None:
        raise InputError(
            400, "binary_data", "binary_data_size is set, but the request has no Inference-Header-Content-Length"
        )
    if "data" in tensor:
        raise InputError(400, "binary_data", 'an input has both "data" and binary_data_size')
    if type(size) is not int or size != count * element.itemsize:
        raise InputError(
            400,
            "binary_data",
            f"binary_data_size is {size!r}; {count} {datatype} values take {count * element.itemsize} bytes",
        )
    if len(binary) != size:
        raise InputError(400, "binary_data", f"the body carries {len(binary)} bytes of tensor data; expected {size}")
    array = np.frombuffer(binary, dtype=element)
    if not np.isfinite(array).all():
        index = int(np.argmin(np.isfinite(array)))
        raise InputError(400, "non_finite", f"value {index} of the binary tensor is {array[index]}: not finite")
    values: list[Any] = array.astype(np.float64).tolist()
    return values


def _requested_outputs(document: dict[str, Any]) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    parameters = document.get("parameters")
    all_binary = type(parameters) is dict and parameters.get("binary_data_output") is True
    requested = document.get("outputs")
    if requested is None:
        return None, frozenset(OUTPUT_NAMES) if all_binary else frozenset()
    if type(requested) is not list or not all(type(item) is dict for item in requested):
        raise InputError(400, "schema", '"outputs" must be a list of {"name": ...} objects')
    names = []
    binary = set()
    for item in requested:
        name = item.get("name")
        if name not in OUTPUT_NAMES:
            raise InputError(400, "schema", f"unknown output {name!r}; the model has {list(OUTPUT_NAMES)}")
        names.append(name)
        options = item.get("parameters")
        wants_binary = type(options) is dict and options.get("binary_data")
        if wants_binary is True or (wants_binary is None and all_binary):
            binary.add(name)
    return tuple(names), frozenset(binary)


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
