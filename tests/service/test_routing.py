"""The route table and the exception -> HTTP mapping, apart from the server."""

from __future__ import annotations

import orjson
import pytest

from model_service import routing
from model_service.errors import ClientDisconnectedError, InputError, answer_for
from model_service.routing import RouteMatch, Router


async def _handler(request: object, match: RouteMatch) -> tuple[int, bytes, bytes]:
    return 200, b"", b""


def router() -> Router:
    return Router({route: _handler for route in routing.ROUTES if route != routing.ROUTE_OTHER})


@pytest.mark.parametrize(
    ("method", "path", "route", "allowed", "name", "version"),
    [
        ("GET", "/v2/health/live", routing.ROUTE_LIVE, "GET", None, None),
        ("POST", "/invocations", routing.ROUTE_INVOCATIONS, "POST", None, None),
        ("GET", "/v2/models/wine", routing.ROUTE_MODEL, "GET", "wine", None),
        ("GET", "/v2/models/wine/versions/7/ready", routing.ROUTE_MODEL_READY, "GET", "wine", "7"),
        ("POST", "/v2/models/wine/infer", routing.ROUTE_INFER, "POST", "wine", None),
        ("POST", "/v2/models/wine/versions/7/infer", routing.ROUTE_INFER, "POST", "wine", "7"),
    ],
)
def test_every_route_resolves_to_its_handler_with_the_model_from_the_path(
    method: str, path: str, route: str, allowed: str, name: str | None, version: str | None
) -> None:
    match = router().resolve(method, path)
    assert match == RouteMatch(route, _handler, allowed, name, version)


def test_a_wrong_method_names_the_allowed_one_and_an_unknown_path_is_other() -> None:
    table = router()
    wrong = table.resolve("GET", "/v2/models/wine/infer")
    assert (wrong.route, wrong.handler, wrong.allowed_method) == (routing.ROUTE_INFER, None, "POST")
    for path in ("/v2/models/wine/explain", "/v2/models", "/nothing", "/v2/models/wine/versions/1/a/b"):
        assert table.resolve("GET", path) == RouteMatch(routing.ROUTE_OTHER, None)


def test_the_cache_of_client_paths_is_bounded() -> None:
    table = router()
    for index in range(routing.CACHE_SIZE + 100):
        table.resolve("GET", f"/random/{index}")
    assert len(table._cache) == routing.CACHE_SIZE


def test_a_router_refuses_a_route_without_a_handler() -> None:
    with pytest.raises(ValueError, match="/metrics"):
        Router({route: _handler for route in routing.ROUTES if route not in (routing.ROUTE_OTHER, "/metrics")})


def test_exceptions_map_to_answers() -> None:
    status, body, _ = answer_for(InputError(413, "too_many_rows", "too many"), "id-1")
    assert (status, orjson.loads(body)) == (413, {"error": "too many", "reason": "too_many_rows"})
    assert answer_for(ClientDisconnectedError(), "id-1")[0] == 499
    status, body, _ = answer_for(RuntimeError("secret detail"), "id-1")
    assert status == 500 and b"secret detail" not in body and orjson.loads(body)["request_id"] == "id-1"
