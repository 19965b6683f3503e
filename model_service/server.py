"""How the service runs under uvicorn; the benchmark runs its baselines through the same function,
so that "the same server stack" means the same settings to the letter."""

from __future__ import annotations

import gc
import logging
from typing import Any

import uvicorn

from model_service.logs import configure_logging
from model_service.settings import Settings


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] on Linux
        loop = "asyncio"
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http="httptools",
        lifespan="on",
        access_log=False,  # the app writes its own JSON access log
        log_config=configure_logging(settings.log_level),
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        # Pods sit behind a Service, not a proxy that sets X-Forwarded-*: nothing to trust.
        proxy_headers=False,
        server_header=False,
    )


def run(app: Any, settings: Settings) -> None:
    """Serve `app` until SIGTERM/SIGINT; then stop accepting and let in-flight requests finish
    (up to GRACEFUL_SHUTDOWN_SECONDS)."""
    # Requests allocate many short-lived objects; collect the young generation less often.
    gc.set_threshold(50_000, 20, 20)
    logging.getLogger("model_service").info(
        "starting", extra={"port": settings.port, "model_dir": str(settings.model_dir)}
    )
    uvicorn.Server(uvicorn_config(app, settings)).run()
