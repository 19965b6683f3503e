"""What each observability switch adds to a request's CPU time, in process:
`python -m bench.observability_cost`.

The wrk comparison (`bench.observability`) measures what users get, but on a small shared machine
its ratios move by several points from run to run, more than one switch costs. This drives the
same application object (the ASGI callable, no sockets) with concurrent single-row requests, so a
request pays for parsing, batching, the model call and whatever is switched on, and nothing of the
kernel's or wrk's. Rounds interleave the five configurations; each figure is the lowest process
CPU time per request over the rounds (the least disturbed), with the export thread's time counted.
The spans of sampled requests go to a real OTLP receiver, as in the wrk comparison; it runs in
this process, so its decoding is counted too and tracing's figure is an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.observability import INFER_PATH, NOTHING, V2_BODY, VARIANTS
from bench.otlp_receiver import OtlpReceiver

BODY = V2_BODY.encode()
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": INFER_PATH,
    "query_string": b"",
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise RuntimeError(f"the service answered {message['status']}")


class Started:
    """A ModelServer configured from an environment (as the process would be), its model loaded,
    and its lifespan, to end it."""

    def __init__(self, server: Any, lifespan: asyncio.Task[None], messages: asyncio.Queue[dict[str, str]]) -> None:
        self.server, self.lifespan, self.messages = server, lifespan, messages

    async def stop(self) -> None:
        await self.messages.put({"type": "lifespan.shutdown"})
        await self.lifespan


async def _started(environ: dict[str, str]) -> Started:
    from model_service.app import ModelServer
    from model_service.logs import AccessLog
    from model_service.settings import Settings

    settings = Settings.from_env(environ)
    sink = open(os.devnull, "w")  # noqa: SIM115 - the log's stream for the server's lifetime
    server = ModelServer(
        settings, AccessLog(stream=sink, enabled=settings.access_log, log_features=settings.log_features)
    )
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})

    async def ignore(message: dict[str, Any]) -> None:
        return None

    lifespan = asyncio.create_task(server({"type": "lifespan"}, messages.get, ignore))
    while server.model is None:
        if server.load_failed:
            raise RuntimeError(server.load_error)
        await asyncio.sleep(0.02)
    return Started(server, lifespan, messages)


async def _drive(server: Any, requests: int, clients: int) -> None:
    async def client(count: int) -> None:
        for _ in range(count):
            await server(dict(SCOPE), _receive, _send)

    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))


async def measure(model_dir: Path, endpoint: str, rounds: int, requests: int, clients: int) -> dict[str, float]:
    """Lowest CPU microseconds per request of each configuration over `rounds`."""
    servers: dict[str, Started] = {}
    for name, switches in VARIANTS.items():
        environ = {"MODEL_DIR": str(model_dir), **NOTHING, **{k: v or endpoint for k, v in switches.items()}}
        servers[name] = await _started(environ)
    try:
        for started in servers.values():
            await _drive(started.server, requests, clients)  # warm-up
        best = dict.fromkeys(servers, float("inf"))
        for _ in range(rounds):
            for name, started in servers.items():
                before = time.process_time()
                await _drive(started.server, requests, clients)
                best[name] = min(best[name], (time.process_time() - before) / requests * 1e6)
        return best
    finally:
        for started in servers.values():
            await started.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.observability_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=6400, help="requests per configuration per round")
    parser.add_argument("--clients", type=int, default=32, help="concurrent requests (batches form as in service)")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)  # start-up notices, not results
    gc.set_threshold(50_000, 20, 20)  # as model_service.server.run sets it
    from model_service.training import TrainingOptions, train

    with tempfile.TemporaryDirectory(prefix="bench-observability-cost-") as tmp, OtlpReceiver() as receiver:
        model_dir = train(TrainingOptions(output=Path(tmp) / "model"))
        cpu_us = asyncio.run(measure(model_dir, receiver.endpoint, args.rounds, args.requests, args.clients))
    print(
        f"in process: {args.clients} concurrent single-row requests, {args.requests} per configuration per round, "
        f"lowest of {args.rounds} rounds; CPU time of the whole process (export thread included)"
    )
    print(f"{'observing':>14} {'cpu us/req':>11} {'adds us':>8} {'vs none':>8}")
    for name, value in cpu_us.items():
        print(f"{name:>14} {value:>11.2f} {value - cpu_us['none']:>8.2f} {value / cpu_us['none']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
