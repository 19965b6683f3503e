"""Drive the model service with Open Inference Protocol clients this project did not write:
tritonclient's HTTP client (JSON and binary tensor data) and KServe's REST client.

Runs in its own virtualenv (.venv-clients: the clients pin libraries the platform's own
environment does not share); prints one JSON document of what each client got back.
Usage: python oip_clients.py http://127.0.0.1:8080 wine-classifier
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

ROWS = np.array(
    [
        [14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0],
        [12.37, 0.94, 1.36, 10.6, 88.0, 1.98, 0.57, 0.28, 0.42, 1.95, 1.05, 1.82, 520.0],
        [12.86, 1.35, 2.32, 18.0, 122.0, 1.51, 1.25, 0.21, 0.94, 4.1, 0.76, 1.29, 630.0],
    ]
)


def with_triton(url: str, model: str, binary: bool) -> dict[str, object]:
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "class_name", "probabilities")
    ]
    result = client.infer(model, [tensor], outputs=outputs, request_id="triton-1")
    default = client.infer(model, [tensor])  # the client's defaults (binary outputs)
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "metadata_inputs": client.get_model_metadata(model)["inputs"],
        "id": result.get_response()["id"],
        "labels": result.as_numpy("label").tolist(),
        "class_names": [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("class_name").tolist()],
        "probabilities": result.as_numpy("probabilities").tolist(),
        "default_labels": default.as_numpy("label").tolist(),
        "feedback_id": result.get_response()["parameters"]["feedback_id"],
        # Outputs the server sent as binary tensor data (the extension's parameter says so).
        "binary_outputs": sorted(
            output["name"]
            for output in result.get_response()["outputs"]
            if "binary_data_size" in output.get("parameters", {})
        ),
    }


async def with_kserve(url: str, model: str) -> dict[str, object]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=10))
    tensor = InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS)
    request = InferRequest(model_name=model, infer_inputs=[tensor], request_id="kserve-1")
    try:
        response = await client.infer(url, request, model_name=model)
        live = await client.is_server_live(url)
        ready = await client.is_model_ready(url, model)
    finally:
        await client.close()
    outputs = {output.name: output for output in response.outputs}
    return {
        "live": live,
        "model_ready": ready,
        "id": response.id,
        "labels": outputs["label"].as_numpy().tolist(),
        "probabilities": outputs["probabilities"].as_numpy().tolist(),
    }


def main() -> None:
    url, model = sys.argv[1], sys.argv[2]
    report = {
        "triton_json": with_triton(url, model, binary=False),
        "triton_binary": with_triton(url, model, binary=True),
        "kserve": asyncio.run(with_kserve(url, model)),
    }
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
