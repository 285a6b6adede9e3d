"""Fakes for the API's unit tests: repository wrappers that misbehave on purpose (the shared ones are in
tests/unit/fakes.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    async def replace_definition(self, workflow: Any, *, expected_version: int, reschedule: bool) -> Any:
        if self.races_left > 0:
            self.races_left -= 1
            current = await self._inner.get(workflow.workflow_id)
            competitor = current.model_copy(update={"version": current.version + 1, "description": "the other one"})
            await self._inner.replace_definition(competitor, expected_version=current.version, reschedule=False)
        return await self._inner.replace_definition(workflow, expected_version=expected_version, reschedule=reschedule)
