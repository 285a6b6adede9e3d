"""The operational endpoints every process serves: /healthz, /readyz and /metrics.

/healthz answers 200 while the process runs. /readyz runs the process's readiness checks (MongoDB, Kafka, and
for the runner the consumer group assignment) and answers 503 with a problem body naming what is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when the dependency is usable; raises (any exception) when it is not."""

CHECK_TIMEOUT_SECONDS = 2.0
PROBLEM_JSON = "application/problem+json"


async def run_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    async def one(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"down: no answer within {CHECK_TIMEOUT_SECONDS:g}s"
        except Exception as exc:
            return f"down: {exc}"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def ops_routes(checks: Mapping[str, ReadinessCheck]) -> list[BaseRoute]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        results = await run_checks(checks)
        down = sorted(name for name, result in results.items() if result != "ok")
        if not down:
            return JSONResponse({"status": "ready", "checks": results})
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"not ready: {', '.join(down)} down",
                "down": down,
                "checks": results,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def ops_app(checks: Mapping[str, ReadinessCheck], lifespan: Callable[..., object] | None = None) -> Starlette:
    """The whole HTTP surface of a process that has no API of its own (scheduler, runner)."""
    return Starlette(routes=ops_routes(checks), lifespan=lifespan)  # type: ignore[arg-type]
