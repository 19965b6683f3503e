"""Typed response documents of both protocols, built from one prediction.

The Open Inference Protocol (KServe v2) answers with named output tensors; the SageMaker contract
with one object per row. Both carry the model's name and version and the request id, so that a
label sent later to /feedback can name the prediction it scores.
"""

from __future__ import annotations

from typing import Any, TypedDict

from model_service.artifact import LoadedModel


class TensorMetadata(TypedDict, total=False):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, object]


class Tensor(TypedDict):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


class V2InferResponse(TypedDict):
    model_name: str
    model_version: str
    id: str
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
    model: LoadedModel, request_id: str, labels: list[int], probabilities: list[list[float]]
) -> V2InferResponse:
    count = len(labels)
    class_names = model.class_names
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request_id,
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [count], "data": labels},
            {"name": "class_name", "datatype": "BYTES", "shape": [count], "data": [class_names[i] for i in labels]},
            {
                "name": "probabilities",
                "datatype": "FP64",
                "shape": [count, len(class_names)],
                "data": [p for row in probabilities for p in row],
            },
        ],
    }


def sagemaker_response(
    model: LoadedModel, request_id: str, labels: list[int], probabilities: list[list[float]]
) -> SageMakerResponse:
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request_id,
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
