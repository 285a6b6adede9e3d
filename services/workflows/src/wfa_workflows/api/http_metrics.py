"""HTTP server metrics: a count and a duration per request, labelled by the route's template, not the raw path.

Raw paths hold workflow and execution ids: as label values they would make a series per id. The template is the
one the router matched (`/workflows/{workflow_id}/trigger`), or `unmatched`; methods outside HTTP's usual set
are counted as `other`, for the same reason.
"""

from __future__ import annotations

import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wfa_workflows.metrics import ApiMetrics

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """Outermost middleware, so that what the layers inside refuse (413, 401) is counted too."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before it starts a response

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = _route_template(scope)
            self._metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self._metrics.request_duration.labels(method=method, route=route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router stores the route it matched (fully, or by path alone for a 405) in the scope it passes down.
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else UNMATCHED
