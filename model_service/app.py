"""The ASGI application: Open Inference Protocol, SageMaker contract, metrics and feedback.

Written against the bare ASGI interface rather than a framework: the service has a dozen fixed
routes, and the inference path is hot enough that a router's per-request cost shows in the
benchmark (bench/). This module holds the lifecycle, the HTTP plumbing and the handlers; the route
table is `routing`, exceptions -> HTTP answers `errors`, the request body `request`, parsing
`protocol`, response documents `responses`, batching `batching`, metrics `metrics`.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from model_service.artifact import LoadedModel, ModelLoadError, load_model, resolve_model_dir
from model_service.batching import MicroBatcher, Result
from model_service.errors import (
    CLIENT_CLOSED,
    JSON,
    ClientDisconnectedError,
    InputError,
    answer_for,
    error_response,
    method_not_allowed,
)
from model_service.logs import AccessLog
from model_service.metrics import ServiceMetrics
from model_service.protocol import parse_csv, parse_json, parse_sagemaker_json, parse_v2_request
from model_service.request import Receive, Request
from model_service.responses import sagemaker_response, v2_infer_response, v2_model_metadata
from model_service.routing import (
    ROUTE_FEEDBACK,
    ROUTE_INFER,
    ROUTE_INVOCATIONS,
    ROUTE_LIVE,
    ROUTE_METRICS,
    ROUTE_MODEL,
    ROUTE_MODEL_READY,
    ROUTE_PING,
    ROUTE_READY,
    ROUTE_SERVER,
    ROUTES,
    Response,
    RouteMatch,
    Router,
)
from model_service.settings import Settings

log = logging.getLogger("model_service")

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _json(document: Any, status: int = 200) -> Response:
    return status, orjson.dumps(document), JSON


class FeedbackStore:
    """Predictions of recent requests by request id, oldest forgotten first, so that a true
    label sent later can be scored."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, list[int]] = OrderedDict()

    def remember(self, request_id: str, predicted: list[int]) -> None:
        if self.capacity == 0:
            return
        self._items[request_id] = predicted
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def take(self, request_id: str) -> list[int] | None:
        return self._items.pop(request_id, None)


class ModelServer:
    """ASGI callable; one instance serves one model."""

    def __init__(self, settings: Settings, access_log: AccessLog | None = None) -> None:
        self.settings = settings
        self.metrics = ServiceMetrics(ROUTES)
        self.access_log = access_log or AccessLog(enabled=settings.access_log)
        self.feedback = FeedbackStore(settings.feedback_capacity)
        self.model: LoadedModel | None = None
        self.batcher: MicroBatcher | None = None
        self.load_error: str | None = None
        self.shutting_down = False
        self._loading: asyncio.Task[None] | None = None
        self._id_prefix = os.urandom(4).hex()
        self._id_counter = itertools.count(1)
        self.router = Router(
            {
                ROUTE_LIVE: self._live,
                ROUTE_READY: self._ready,
                ROUTE_SERVER: self._server_metadata,
                ROUTE_MODEL: self._model_metadata,
                ROUTE_MODEL_READY: self._model_ready,
                ROUTE_INFER: self._infer,
                ROUTE_PING: self._ping,
                ROUTE_INVOCATIONS: self._invocations,
                ROUTE_METRICS: self._metrics,
                ROUTE_FEEDBACK: self._feedback,
            }
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load in the background: liveness answers at once, readiness once the model is in.
                self._loading = asyncio.create_task(self.load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutting_down = True
                self.access_log.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def load(self) -> None:
        settings = self.settings
        try:
            directory = await asyncio.to_thread(
                resolve_model_dir, settings.model_dir, settings.model_uri or None, settings.model_workdir
            )
            model = await asyncio.to_thread(load_model, directory)
        except ModelLoadError as error:
            self.load_error = str(error)
            log.error("model not loaded", extra={"error": self.load_error})
            return
        self.batcher = MicroBatcher(
            model.predict_proba,
            model.feature_count,
            settings.max_batch_size,
            settings.max_batch_wait_ms / 1000,
            self.metrics.observe_batch,
        )
        self.metrics.model_loaded(model)
        self.model = model
        gc.collect()
        gc.freeze()  # the model and start-up objects never need scanning again
        log.info(
            "model loaded",
            extra={
                "model_name": model.name,
                "model_version": model.version,
                "trained_at": model.trained_at,
                "source": str(directory),
            },
        )

    # -- HTTP plumbing -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        match = self.router.resolve(method, scope["path"])
        route = match.route
        request_id = None
        content_type = b""
        content_length = -1
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
        if not request_id:
            request_id = f"{self._id_prefix}-{next(self._id_counter):x}"
        request = Request(receive, request_id, content_type, content_length, self.settings.max_body_bytes)
        metrics = self.metrics
        metrics.in_flight += 1
        extra_headers: list[tuple[bytes, bytes]] = []
        try:
            if match.handler is not None:
                status, body, media = await match.handler(request, match)
            elif match.allowed_method is None:
                status, body, media = error_response(404, f"no route {method} {scope['path']}")
            else:
                status, body, media = method_not_allowed(method, match.allowed_method)
                extra_headers.append((b"allow", match.allowed_method.encode()))
        except Exception as error:
            if isinstance(error, InputError):
                if error.status < 500:  # 503 "not ready" is the server's state, not bad input
                    metrics.validation_failure(error.reason)
            elif not isinstance(error, ClientDisconnectedError):
                log.exception("request failed", extra={"request_id": request.request_id, "route": route})
            status, body, media = answer_for(error, request.request_id)
        finally:
            metrics.in_flight -= 1
        if status != CLIENT_CLOSED:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", media),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", request.request_id.encode("latin-1")),
                        *extra_headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        metrics.observe_request(route, status, elapsed)
        if self.access_log.enabled:
            entry = {
                "level": "info",
                "message": "request",
                "request_id": request.request_id,
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
                "model_version": self.model.version if self.model else None,
            }
            if request.rows:
                entry["rows"] = request.rows
                if self.settings.log_features:
                    entry["features"] = request.values
            self.access_log.write(entry)

    # -- handlers ------------------------------------------------------------------------------

    def _require_model(self, name: str | None = None, version: str | None = None) -> LoadedModel:
        model = self.model
        if model is None:
            raise InputError(
                503,
                "model_not_ready",
                "the model is not loaded yet" + (f": {self.load_error}" if self.load_error else ""),
            )
        if name is not None and name != model.name:
            raise InputError(404, "unknown_model", f"model {name!r} not found; this server serves {model.name!r}")
        if version is not None and version != model.version:
            raise InputError(
                404,
                "unknown_model",
                f"version {version!r} of {model.name!r} not found; this server serves {model.version!r}",
            )
        return model

    async def _live(self, request: Request, _: RouteMatch) -> Response:
        return _json({"live": True})

    async def _ready(self, request: Request, _: RouteMatch) -> Response:
        ready = self.model is not None and not self.shutting_down
        body: dict[str, Any] = {"ready": ready}
        if self.load_error:
            body["error"] = self.load_error
        return _json(body, 200 if ready else 503)

    async def _ping(self, request: Request, _: RouteMatch) -> Response:
        return await self._ready(request, _)

    async def _server_metadata(self, request: Request, _: RouteMatch) -> Response:
        from model_service import __version__

        return _json({"name": "model-service", "version": __version__, "extensions": []})

    async def _model_metadata(self, request: Request, match: RouteMatch) -> Response:
        model = self._require_model(match.model_name, match.model_version)
        return _json(v2_model_metadata(model))

    async def _model_ready(self, request: Request, match: RouteMatch) -> Response:
        if self.model is None:
            return _json({"name": match.model_name, "ready": False}, 503)
        model = self._require_model(match.model_name, match.model_version)
        return _json({"name": model.name, "ready": not self.shutting_down}, 503 if self.shutting_down else 200)

    def _predict(self, request: Request, values: list[float], rows: int) -> asyncio.Future[Result]:
        assert self.batcher is not None
        request.rows = rows
        request.values = values
        return self.batcher.submit(values, rows)

    async def _infer(self, request: Request, match: RouteMatch) -> Response:
        model = self._require_model(match.model_name, match.model_version)
        request.require_json()
        values, count, body_id = parse_v2_request(
            parse_json(await request.body()), model.feature_count, self.settings.max_rows_per_request
        )
        if body_id:
            request.request_id = body_id
        labels, probabilities = await self._predict(request, values, count)
        self.feedback.remember(request.request_id, labels)
        return _json(v2_infer_response(model, request.request_id, labels, probabilities))

    async def _invocations(self, request: Request, _: RouteMatch) -> Response:
        model = self._require_model()
        media = request.media_type()
        if media == b"text/csv":
            values, count = parse_csv(await request.body(), model.feature_count, self.settings.max_rows_per_request)
        elif media == b"application/json":
            values, count = parse_sagemaker_json(
                parse_json(await request.body()), model.feature_count, self.settings.max_rows_per_request
            )
        else:
            raise InputError(
                415,
                "content_type",
                f"content type {media.decode('latin-1')!r} is not supported; send application/json or text/csv",
            )
        labels, probabilities = await self._predict(request, values, count)
        self.feedback.remember(request.request_id, labels)
        return _json(sagemaker_response(model, request.request_id, labels, probabilities))

    async def _feedback(self, request: Request, _: RouteMatch) -> Response:
        model = self._require_model()
        request.require_json()
        document = parse_json(await request.body())
        if not isinstance(document, dict) or not isinstance(document.get("request_id"), str):
            raise InputError(400, "schema", 'expected {"request_id": "...", "label": <class>} or "labels": [...]')
        labels = document.get("labels", [document["label"]] if "label" in document else None)
        if not isinstance(labels, list) or not labels:
            raise InputError(400, "bad_label", 'give the true class as "label" (one row) or "labels" (one per row)')
        truth = [self._class_index(model, label) for label in labels]
        predicted = self.feedback.take(document["request_id"])
        if predicted is None:
            raise InputError(
                404,
                "unknown_request_id",
                f"no prediction remembered for request id "
                f"{document['request_id']!r} (never served, already labelled, or forgotten after "
                f"{self.settings.feedback_capacity} newer requests)",
            )
        if len(truth) != len(predicted):
            self.feedback.remember(document["request_id"], predicted)
            raise InputError(400, "bad_label", f"{len(truth)} labels for a request of {len(predicted)} rows")
        correct = sum(1 for true, guess in zip(truth, predicted, strict=True) if true == guess)
        if correct:
            self.metrics.feedback_outcome(True, correct)
        if len(truth) - correct:
            self.metrics.feedback_outcome(False, len(truth) - correct)
        return _json({"request_id": document["request_id"], "labelled": len(truth), "correct": correct})

    @staticmethod
    def _class_index(model: LoadedModel, label: Any) -> int:
        if type(label) is int and 0 <= label < len(model.class_names):
            return label
        if isinstance(label, str) and label in model.class_names:
            return model.class_names.index(label)
        raise InputError(
            400,
            "bad_label",
            f"label {label!r} is not a class of the model: use 0-"
            f"{len(model.class_names) - 1} or one of {list(model.class_names)}",
        )

    async def _metrics(self, request: Request, _: RouteMatch) -> Response:
        return 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST.encode()
