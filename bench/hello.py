"""The ceiling: a bare endpoint on the model service's server stack (same uvicorn settings, same
`model_service.server.run`), answering any request with a constant body and doing nothing else."""

from __future__ import annotations

from typing import Any

from model_service.server import run
from model_service.settings import Settings

BODY = b'{"hello":"world"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    run(app, Settings.from_env())
