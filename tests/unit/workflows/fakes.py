"""Fakes for the API's unit tests: a recording publisher and repository wrappers that misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wfa.domain.errors import DependencyUnavailable
from wfa.events import ExecutionRequest

SEED = {
    "workflowId": "recurrent-workflow",
    "trigger": {"type": "periodic", "interval": "10s"},
    "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}],
}


def manual_workflow(workflow_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "hello"}],
        **extra,
    }


class RecordingPublisher:
    """Keeps what was published; `down` makes it fail as a broker outage would."""

    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []
        self.down = False

    async def publish(self, request: ExecutionRequest) -> None:
        if self.down:
            raise DependencyUnavailable("kafka", "test broker is down")
        self.sent.append(request)


class Yielding:
    """Every call first yields to the event loop, as a network round trip does: without it the in-memory
    repositories never suspend, and concurrent requests could not interleave."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return await method(*args, **kwargs)

        return call


class Failing:
    """Every call raises what `error` makes: a database outage, or a bug."""

    def __init__(self, error: Callable[[], Exception]) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            raise self._error()

        return call


class RacingUpdates:
    """A workflow repository where another writer updates the workflow just before each of our first `races`
    replace_definition calls, so that ours loses on the version."""

    def __init__(self, inner: Any, races: int) -> None:
        self._inner = inner
        self.races_left = races

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def replace_definition(self, workflow: Any, *, expected_version: int) -> Any:
        if self.races_left > 0:
            self.races_left -= 1
            current = await self._inner.get(workflow.workflow_id)
            competitor = current.model_copy(update={"version": current.version + 1, "description": "the other one"})
            await self._inner.replace_definition(competitor, expected_version=current.version)
        return await self._inner.replace_definition(workflow, expected_version=expected_version)
