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
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import exposition, openmetrics

from model_service import __version__
from model_service.artifact import LoadedModel, accepted_bounds, load_model, resolve_model_dir
from model_service.batching import MicroBatcher, Result
from model_service.capture import ProductionData, Served, capture_record
from model_service.errors import (
    CLIENT_CLOSED,
    JSON,
    ClientDisconnectedError,
    InputError,
    answer_for,
    error_response,
    method_not_allowed,
)
from model_service.feedback import FeedbackIds, bearer_matches, signing_key
from model_service.logs import AccessLog
from model_service.metrics import ServiceMetrics
from model_service.protocol import parse_csv, parse_json, parse_sagemaker_json, parse_v2_request, split_binary_body
from model_service.request import REQUEST_ID_PATTERN, REQUEST_ID_RULE, Receive, Request
from model_service.responses import binary_v2_body, sagemaker_response, v2_infer_response, v2_model_metadata
from model_service.routing import (
    ROUTE_FEEDBACK,
    ROUTE_INFER,
    ROUTE_INVOCATIONS,
    ROUTE_LIVE,
    ROUTE_METRICS,
    ROUTE_MODEL,
    ROUTE_MODEL_READY,
    ROUTE_OTHER,
    ROUTE_PING,
    ROUTE_READY,
    ROUTE_SERVER,
    ROUTES,
    Response,
    RouteMatch,
    Router,
)
from model_service.settings import BODY_EXPANSION, Settings
from model_service.trace_context import traceparent_in_custom_attributes
from model_service.tracing import Phase, SampledTrace, Tracing, otlp_tracing

log = logging.getLogger("model_service")

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# Probes and scrapes: traced, they would only fill the trace store with health checks.
UNTRACED_ROUTES = frozenset({ROUTE_LIVE, ROUTE_READY, ROUTE_PING, ROUTE_METRICS})

# The binary tensor data extension's media type (KServe's client sends it with binary inputs).
OCTET_STREAM = b"application/octet-stream"


PROMETHEUS_TEXT = exposition.CONTENT_TYPE_LATEST.encode()
OPENMETRICS = openmetrics.exposition.CONTENT_TYPE_LATEST.encode()


def _log_ids(request: Request) -> dict[str, Any]:
    """What ties an application log line to its request and trace."""
    ids: dict[str, Any] = {"request_id": request.request_id}
    if request.trace is not None:
        ids["trace_id"] = request.trace.trace_id_hex
        ids["span_id"] = request.trace.span_id_hex
    return ids


def _json(document: Any, status: int = 200) -> Response:
    return status, orjson.dumps(document), JSON


class ModelServer:
    """ASGI callable; one instance serves one model."""

    def __init__(self, settings: Settings, access_log: AccessLog | None = None, tracing: Tracing | None = None) -> None:
        self.settings = settings
        self.metrics = ServiceMetrics(ROUTES, model_metrics=settings.model_metrics)
        self.access_log = access_log or AccessLog(enabled=settings.access_log, log_features=settings.log_features)
        if tracing is None and settings.otel_exporter_otlp_endpoint:
            tracing = otlp_tracing(settings.otel_exporter_otlp_endpoint, settings.trace_sample_ratio, __version__)
        self.tracing = tracing
        key, shared = signing_key(settings.feedback_signing_key)
        self.feedback_ids_shared = shared
        self.feedback = FeedbackIds(key, settings.feedback_max_age_seconds, settings.replay_cache_bytes())
        self.stores = ProductionData(settings, self.metrics)
        self.model: LoadedModel | None = None
        self.batcher: MicroBatcher | None = None
        self.load_error: str | None = None
        # Set once every load attempt failed: liveness fails, so Kubernetes restarts the pod.
        self.load_failed = False
        self.shutting_down = False
        self._loading: asyncio.Task[None] | None = None
        self._id_prefix = os.urandom(4).hex()
        self._id_counter = itertools.count(1)
        # Admission: requests in flight and the memory their bodies may take once parsed.
        self._budget_bytes = settings.request_budget_bytes()
        self._reserved_bytes = 0
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
                self.stores.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutting_down = True
                # What is buffered for S3 is uploaded within the grace period.
                await self.stores.close(timeout=max(self.settings.graceful_shutdown_seconds / 2, 1))
                self.access_log.flush()
                if self.tracing is not None:
                    await asyncio.to_thread(self.tracing.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_draining(self) -> None:
        """SIGTERM: readiness answers 503 from now on; requests are still served."""
        self.shutting_down = True
        log.info("draining: readiness is 503, requests are still served until the listener closes")

    def count_refused(self, status: int, reason: str) -> None:
        """A request the connection refused before it reached the application (too large or slow
        a head, malformed HTTP, too many connections) is counted like any other."""
        self.metrics.observe_request(ROUTE_OTHER, status, 0.0)
        if status < 500:
            self.metrics.validation_failure(reason)

    async def load(self) -> None:
        """Fetch and load the model, retrying with exponential backoff; every failure is logged
        with its reason and shown by readiness; after MODEL_LOAD_ATTEMPTS liveness fails too."""
        settings = self.settings
        attempts = settings.model_load_attempts
        for attempt in range(1, attempts + 1):
            try:
                directory = await asyncio.to_thread(
                    resolve_model_dir, settings.model_dir, settings.model_uri or None, settings.model_workdir
                )
                model = await asyncio.to_thread(load_model, directory)
                break
            except Exception as error:  # onnxruntime, tarfile, botocore, KeyError...: all mean "not loaded"
                self.load_error = f"attempt {attempt} of {attempts}: {type(error).__name__}: {error}"
                log.error("model not loaded", extra={"error": self.load_error, "attempt": attempt})
                if attempt == attempts:
                    self.load_failed = True
                    log.error("giving up on the model: liveness now fails", extra={"attempts": attempts})
                    return
                await asyncio.sleep(min(settings.model_load_backoff_seconds * 2 ** (attempt - 1), 60.0))
        self.batcher = MicroBatcher(
            model.predict_proba,
            model.feature_count,
            settings.max_batch_size,
            settings.max_batch_wait_ms / 1000,
            self.metrics.observe_batch,
            bounds=accepted_bounds(model, settings.feature_range_tolerance),
            feature_names=model.feature_names,
        )
        self.metrics.model_loaded(model)
        self.model = model
        self.access_log.version_json = orjson.dumps(model.version).decode()
        self.load_error = None
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
        if not self.feedback_ids_shared:
            log.warning("FEEDBACK_SIGNING_KEY is not set: feedback ids are valid on this replica only")

    # -- HTTP plumbing -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        match = self.router.resolve(method, scope["path"])
        metrics = self.metrics
        status = 500
        request: Request | None = None
        try:
            request = self._request(scope, receive, traced=match.route not in UNTRACED_ROUTES)
            cost = 0
            metrics.in_flight += 1
            try:
                if request.refusal is not None:
                    raise request.refusal
                if match.handler is None:
                    status, body, media = self._no_handler(request, match, method, scope["path"])
                else:
                    if method == "POST":
                        cost = self._admit(request)
                    status, body, media = await match.handler(request, match)
            except Exception as error:
                status, body, media = self._error_answer(request, match.route, error)
            finally:
                metrics.in_flight -= 1
                self._reserved_bytes -= cost
            if status != CLIENT_CLOSED:
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", media),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-request-id", request.request_id.encode("ascii")),
                            *request.response_headers,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            # Whatever happened, the request is counted once and logged once.
            ended = time.perf_counter()
            elapsed = ended - started
            trace = request.trace if request is not None else None
            if trace is not None and trace.sampled:
                metrics.observe_request(match.route, status, elapsed, trace.trace_id_hex)
                self._record_trace(request, method, match.route, status=status, started=started, ended=ended)  # type: ignore[arg-type]
            else:
                metrics.observe_request(match.route, status, elapsed)
            if request is not None:
                self.access_log.request(request, method, match.route, status, elapsed)

    def _request(self, scope: Scope, receive: Receive, *, traced: bool) -> Request:
        request_id: str | None = None
        bad_request_id = False
        content_type = b""
        content_length = -1
        authorization = b""
        binary_header_length = None
        traceparent = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length":
                # More digits than any body could have: too large (int() of thousands of digits raises).
                content_length = (int(value) if len(value) <= 15 else 1 << 60) if value.isdigit() else -1
            elif key == b"x-request-id" and value:
                text = value.decode("latin-1")
                if REQUEST_ID_PATTERN.fullmatch(text):
                    request_id = text
                else:
                    bad_request_id = True
            elif key == b"authorization":
                authorization = value
            elif key == b"inference-header-content-length":
                binary_header_length = value
            elif key == b"traceparent":
                traceparent = value
            elif key == b"x-amzn-sagemaker-custom-attributes" and traceparent is None:
                # SageMaker passes no custom headers: the proxy sends the traceparent in here.
                traceparent = traceparent_in_custom_attributes(value)
        request = Request(
            receive,
            request_id or f"{self._id_prefix}-{next(self._id_counter):x}",
            content_type,
            content_length,
            self.settings.max_body_bytes,
            scope=scope,
            body_timeout=self.settings.body_timeout_seconds,
        )
        request.authorization = authorization
        request.binary_header_length = binary_header_length
        if self.tracing is not None and traced:
            trace = request.trace = self.tracing.begin(traceparent)
            # Where there is a trace to look up, or the caller started it: the log line (found by
            # x-request-id) carries the ids of every other request.
            if trace.sampled or trace.parent_span_id is not None:
                request.response_headers.append((b"traceresponse", trace.traceresponse()))
        if bad_request_id:
            request.refusal = InputError(400, "bad_request_id", f"x-request-id must be {REQUEST_ID_RULE}")
        return request

    @staticmethod
    def _no_handler(request: Request, match: RouteMatch, method: str, path: str) -> Response:
        if match.allowed_method is None:
            return error_response(404, f"no route {method} {path}")
        request.response_headers.append((b"allow", match.allowed_method.encode()))
        return method_not_allowed(method, match.allowed_method)

    def _error_answer(self, request: Request, route: str, error: Exception) -> Response:
        """The answer for whatever a handler raised; counted, and logged when it is the server's fault."""
        if isinstance(error, InputError):
            if error.status < 500:  # 503 "not ready" is the server's state, not bad input
                self.metrics.validation_failure(error.reason)
            else:
                log.error("request failed", extra={**_log_ids(request), "route": route, "reason": error.reason})
            if error.status in (408, 413):  # the rest of the body is not read: end the connection
                request.response_headers.append((b"connection", b"close"))
            elif error.status == 503:
                request.response_headers.append((b"retry-after", b"1"))
        elif not isinstance(error, ClientDisconnectedError):
            log.exception("request failed", extra={**_log_ids(request), "route": route})
        return answer_for(error, request.request_id)

    def _admit(self, request: Request) -> int:
        """Reserve memory for the request's body (as parsed), or refuse with 503 when the budget
        or MAX_CONCURRENCY is used up: a burst is shed at once instead of queueing without end."""
        declared = request.content_length
        size = declared if 0 <= declared <= request.max_body_bytes else request.max_body_bytes
        cost = size * BODY_EXPANSION
        if self.metrics.in_flight > self.settings.max_concurrency or self._reserved_bytes + cost > self._budget_bytes:
            raise InputError(
                503, "overloaded", "the server is at its concurrency or memory limit; retry after a second"
            )
        self._reserved_bytes += cost
        return cost

    def _record_trace(
        self, request: Request, method: str, route: str, *, status: int, started: float, ended: float
    ) -> None:
        """The spans of a sampled request: the server span, and parse, batch wait and model call
        where the request got that far."""
        trace = request.trace
        assert isinstance(trace, SampledTrace) and self.tracing is not None
        model = self.model
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "request.id": request.request_id,
        }
        if model is not None:
            attributes["model.name"] = model.name
            attributes["model.version"] = model.version
        phases = []
        if trace.parsed_at:
            phases.append(Phase("parse", started, trace.parsed_at, {}))
        batch = trace.batch
        if batch is not None:
            attributes["rows"] = request.rows
            sizes: dict[str, str | int] = {"batch.rows": batch.rows}
            phases.append(Phase("batch.wait", trace.submitted_at, batch.started, sizes))
            model_attributes = {**sizes, "model.version": model.version if model else ""}
            phases.append(Phase("model.predict", batch.started, batch.started + batch.seconds, model_attributes))
        self.tracing.record(
            trace,
            f"{method} {route}",
            started=started,
            ended=ended,
            attributes=attributes,
            phases=phases,
            failed=status >= 500,
        )

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
        if self.load_failed:
            return _json({"live": False, "error": self.load_error}, 503)
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
        trace = request.trace
        if isinstance(trace, SampledTrace):
            trace.parsed_at = trace.submitted_at = time.perf_counter()
        return self.batcher.submit(values, rows)

    @staticmethod
    def _batched(request: Request, result: Result) -> tuple[list[int], list[list[float]]]:
        """The predictions of a request's batch result; the batch goes into its trace."""
        labels, probabilities, batch = result
        if isinstance(request.trace, SampledTrace):
            request.trace.batch = batch
        return labels, probabilities

    async def _infer(self, request: Request, match: RouteMatch) -> Response:
        model = self._require_model(match.model_name, match.model_version)
        binary_request = request.binary_header_length is not None
        request.require_json(also=OCTET_STREAM if binary_request else None)
        body = await request.body()
        if request.binary_header_length is None:
            document, binary = parse_json(body), None
        else:
            document, binary = split_binary_body(body, request.binary_header_length)
        parsed = parse_v2_request(document, model.feature_count, self.settings.max_rows_per_request, binary)
        if parsed.request_id:
            request.request_id = parsed.request_id
        labels, probabilities = self._batched(request, await self._predict(request, parsed.values, parsed.rows))
        feedback_id = self._feedback_id(request, labels)
        if self.stores.capture is not None:
            self._capture(request, model, labels, probabilities, feedback_id)
        response = v2_infer_response(
            model, request.request_id, feedback_id, labels, probabilities, outputs=parsed.outputs
        )
        if not parsed.binary_outputs:
            return _json(response)
        content, json_length = binary_v2_body(response, parsed.binary_outputs)
        request.response_headers.append((b"inference-header-content-length", str(json_length).encode()))
        return 200, content, OCTET_STREAM

    async def _invocations(self, request: Request, _: RouteMatch) -> Response:
        model = self._require_model()
        media = request.media_type()
        if media == b"text/csv":
            values, count = parse_csv(await request.body(), model.feature_count, self.settings.max_rows_per_request)
        elif media in (b"application/json", b""):
            values, count = parse_sagemaker_json(
                parse_json(await request.body()), model.feature_count, self.settings.max_rows_per_request
            )
        else:
            raise InputError(
                415,
                "content_type",
                f"content type {media.decode('latin-1')!r} is not supported; send application/json or text/csv",
            )
        labels, probabilities = self._batched(request, await self._predict(request, values, count))
        feedback_id = self._feedback_id(request, labels)
        if self.stores.capture is not None:
            self._capture(request, model, labels, probabilities, feedback_id)
        return _json(sagemaker_response(model, request.request_id, feedback_id, labels, probabilities))

    def _feedback_id(self, request: Request, labels: list[int]) -> str:
        return self.feedback.issue(labels)

    def _capture(
        self,
        request: Request,
        model: LoadedModel,
        labels: list[int],
        probabilities: list[list[float]],
        feedback_id: str,
    ) -> None:
        values, width, at = request.values or [], model.feature_count, time.time()
        self.stores.maybe_capture(
            lambda: capture_record(
                Served(
                    request.request_id,
                    [values[i : i + width] for i in range(0, len(values), width)],
                    model.version,
                    [model.class_names[label] for label in labels],
                    probabilities,
                    feedback_id,
                    at,
                )
            )
        )

    async def _feedback(self, request: Request, _: RouteMatch) -> Response:
        self._authorize_feedback(request)
        model = self._require_model()
        request.require_json()
        document = parse_json(await request.body())
        if type(document) is not dict or "feedback_id" not in document:
            raise InputError(
                400, "schema", 'expected {"feedback_id": "...", "label": <class>} or "labels": [one per row]'
            )
        labels = document.get("labels", [document["label"]] if "label" in document else None)
        if type(labels) is not list or not labels:
            raise InputError(400, "bad_label", 'give the true class as "label" (one row) or "labels" (one per row)')
        truth = [self._class_index(model, label) for label in labels]
        prediction = self.feedback.open(document["feedback_id"])
        predicted = prediction.labels
        if len(truth) != len(predicted):
            raise InputError(400, "bad_label", f"{len(truth)} labels for a request of {len(predicted)} rows")
        self.feedback.mark_scored(prediction.serial)
        now = time.time()
        delay = max(now - prediction.issued_at, 0.0)
        self.metrics.label_delay.observe((), delay)
        self.stores.label(
            {
                "feedback_id": document["feedback_id"],
                "labels": [model.class_names[index] for index in truth],
                "predicted": [model.class_names[index] for index in predicted],
                "predicted_at": prediction.issued_at,
                "labelled_at": round(now, 3),
                "label_delay_seconds": round(delay, 3),
                "model_version": model.version,
            }
        )
        correct = sum(1 for true, guess in zip(truth, predicted, strict=True) if true == guess)
        if correct:
            self.metrics.feedback_outcome(True, correct)
        if len(truth) - correct:
            self.metrics.feedback_outcome(False, len(truth) - correct)
        return _json({"labelled": len(truth), "correct": correct})

    def _authorize_feedback(self, request: Request) -> None:
        token = self.settings.feedback_token
        if not token:
            raise InputError(
                403, "feedback_disabled", "feedback is off on this server: set FEEDBACK_TOKEN to accept labels"
            )
        if not request.authorization:
            request.response_headers.append((b"www-authenticate", b'Bearer realm="feedback"'))
            raise InputError(401, "unauthorized", "send the labelling credential as Authorization: Bearer <token>")
        if not bearer_matches(request.authorization, token):
            raise InputError(403, "unauthorized", "the credential is not valid for /feedback")

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
        """Prometheus text, or OpenMetrics (which carries the latency exemplars) when the scraper
        asks for it, as Prometheus does."""
        accept = request.header(b"accept") or b""
        if b"application/openmetrics-text" in accept:
            return 200, self.metrics.exposition(openmetrics_format=True), OPENMETRICS
        return 200, self.metrics.exposition(), PROMETHEUS_TEXT
