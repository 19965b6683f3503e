"""Typed response documents of both protocols, built from one prediction.

The Open Inference Protocol (KServe v2) answers with named output tensors; the SageMaker contract
with one object per row. Both carry the model's name and version, the request id, and the
feedback id that a label sent later to /feedback names (model_service.feedback).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

import numpy as np
import orjson

from model_service.artifact import LoadedModel
from model_service.protocol import OUTPUT_NAMES


class TensorMetadata(TypedDict, total=False):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, object]


class Tensor(TypedDict):
    name: str
    datatype: str
    shape: list[int]
    data: NotRequired[list[Any]]
    parameters: NotRequired[dict[str, object]]


class V2InferResponse(TypedDict):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, object]
    outputs: list[Tensor]


class V2ModelMetadata(TypedDict):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, object]


class RowPrediction(TypedDict):
    label: str
    label_index: int
    confidence: float
    probabilities: list[float]


class SageMakerResponse(TypedDict):
    model_name: str
    model_version: str
    id: str
    feedback_id: str
    predictions: list[RowPrediction]


INPUT_NAME = "input-0"


def v2_model_metadata(model: LoadedModel) -> V2ModelMetadata:
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {
                "name": INPUT_NAME,
                "datatype": "FP64",
                "shape": [-1, model.feature_count],
                "parameters": {"feature_names": list(model.feature_names)},
            }
        ],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "class_name", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(model.class_names)]},
        ],
        "parameters": {"trained_at": model.trained_at, "class_names": list(model.class_names)},
    }


def v2_infer_response(
    model: LoadedModel,
    request_id: str,
    feedback_id: str,
    labels: list[int],
    probabilities: list[list[float]],
    *,
    outputs: Iterable[str] | None = None,
) -> V2InferResponse:
    count = len(labels)
    class_names = model.class_names
    tensors: dict[str, Tensor] = {
        "label": {"name": "label", "datatype": "INT64", "shape": [count], "data": labels},
        "class_name": {
            "name": "class_name",
            "datatype": "BYTES",
            "shape": [count],
            "data": [class_names[i] for i in labels],
        },
        "probabilities": {
            "name": "probabilities",
            "datatype": "FP64",
            "shape": [count, len(class_names)],
            "data": [p for row in probabilities for p in row],
        },
    }
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request_id,
        "parameters": {"feedback_id": feedback_id},
        "outputs": [tensors[name] for name in (OUTPUT_NAMES if outputs is None else outputs)],
    }


def _tensor_bytes(tensor: Tensor) -> bytes:
    data = tensor.get("data", [])
    if tensor["datatype"] == "BYTES":
        return b"".join(struct.pack("<I", len(item.encode())) + item.encode() for item in data)
    element = "<i8" if tensor["datatype"] == "INT64" else "<f8"
    return np.asarray(data, dtype=element).tobytes()


def binary_v2_body(document: V2InferResponse, binary_outputs: frozenset[str]) -> tuple[bytes, int]:
    """The response with the named outputs as binary tensor data (the extension's layout: the
    JSON part, then each binary output's bytes in order), and the JSON part's length."""
    chunks = []
    for tensor in document["outputs"]:
        if tensor["name"] in binary_outputs:
            raw = _tensor_bytes(tensor)
            del tensor["data"]
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
    head = orjson.dumps(document)
    return head + b"".join(chunks), len(head)


def sagemaker_response(
    model: LoadedModel, request_id: str, feedback_id: str, labels: list[int], probabilities: list[list[float]]
) -> SageMakerResponse:
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request_id,
        "feedback_id": feedback_id,
        "predictions": [
            {
                "label": model.class_names[label],
                "label_index": label,
                "confidence": max(probs),
                "probabilities": probs,
            }
            for label, probs in zip(labels, probabilities, strict=True)
        ],
    }
