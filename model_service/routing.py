"""Which handler a request goes to: the route table of the Open Inference Protocol (KServe v2) and
the SageMaker contract, and a bounded cache of resolved paths.

A match is always a `RouteMatch`: the route template (a bounded metric label), the handler or
None (405 or 404), the method the route allows, and the model name and version from the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

Response = tuple[int, bytes, bytes]
Handler = Callable[[Any, "RouteMatch"], Awaitable[Response]]

ROUTE_LIVE = "/v2/health/live"
ROUTE_READY = "/v2/health/ready"
ROUTE_SERVER = "/v2"
ROUTE_MODEL = "/v2/models/{name}"
ROUTE_MODEL_READY = "/v2/models/{name}/ready"
ROUTE_INFER = "/v2/models/{name}/infer"
ROUTE_PING = "/ping"
ROUTE_INVOCATIONS = "/invocations"
ROUTE_METRICS = "/metrics"
ROUTE_FEEDBACK = "/feedback"
ROUTE_OTHER = "other"

# Route template -> the one method it answers.
FIXED_ROUTES = {
    ROUTE_LIVE: "GET",
    ROUTE_READY: "GET",
    ROUTE_SERVER: "GET",
    ROUTE_PING: "GET",
    ROUTE_INVOCATIONS: "POST",
    ROUTE_METRICS: "GET",
    ROUTE_FEEDBACK: "POST",
}
# /v2/models/{name}[/versions/{version}]/<action>: action -> (route template, method).
MODEL_ROUTES = {
    "": (ROUTE_MODEL, "GET"),
    "ready": (ROUTE_MODEL_READY, "GET"),
    "infer": (ROUTE_INFER, "POST"),
}
ROUTES = (*FIXED_ROUTES, *(route for route, _ in MODEL_ROUTES.values()), ROUTE_OTHER)
# Paths come from clients: the cache of resolved ones is bounded.
CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: str
    handler: Handler | None
    allowed_method: str | None = None
    model_name: str | None = None
    model_version: str | None = None


class Router:
    """Resolves (method, path) to a `RouteMatch`; `handlers` maps each route template to its handler."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        missing = set(ROUTES) - {ROUTE_OTHER} - set(handlers)
        if missing:
            raise ValueError(f"no handler for routes {sorted(missing)}")
        self._handlers = dict(handlers)
        self._cache: dict[tuple[str, str], RouteMatch] = {}

    def resolve(self, method: str, path: str) -> RouteMatch:
        key = (method, path)
        found = self._cache.get(key)
        if found is None:
            found = self._match(method, path)
            if len(self._cache) < CACHE_SIZE:
                self._cache[key] = found
        return found

    def _match(self, method: str, path: str) -> RouteMatch:
        allowed = FIXED_ROUTES.get(path)
        if allowed is not None:
            return RouteMatch(path, self._handlers[path] if method == allowed else None, allowed)
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "v2" and parts[2] == "models":
            name, rest = parts[3], parts[4:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            action = rest[0] if len(rest) == 1 else ("" if not rest else None)
            if action in MODEL_ROUTES:
                route, allowed = MODEL_ROUTES[action]
                handler = self._handlers[route] if method == allowed else None
                return RouteMatch(route, handler, allowed, name, version)
        return RouteMatch(ROUTE_OTHER, None)
