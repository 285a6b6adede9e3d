"""Fakes for the runner's unit tests: scripted actions, recording publishers, call-logging repositories."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from wfa.domain.errors import ActionFailed, DependencyUnavailable
from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.events import Event, ExecutionRequest
from wfa_runner.actions import LogActionRunner
from wfa_runner.actions.base import ActionSpec, Output

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
DEADLINE = 5.0

Step = Output | ActionFailed | Callable[[], Awaitable[Output]]
"""What a scripted action does on one call: return an output, raise a failure, or run a coroutine."""


class ScriptedActions:
    """An action runner for every action type, doing what each action's script says, call after call.

    An action with no script (or whose script ran out) succeeds with `{"ok": <name>}`.
    """

    def __init__(self, **scripts: list[Step]) -> None:
        self._scripts = {name.replace("_", "-"): list(steps) for name, steps in scripts.items()}
        self.calls: list[str] = []
        self.contexts: list[TemplateContext] = []

    def count(self, name: str) -> int:
        return self.calls.count(name)

    async def run(self, action: ActionSpec, context: TemplateContext) -> Output:
        name = action.name or ""
        self.contexts.append(context)
        self.calls.append(name)
        script = self._scripts.get(name, [])
        default: Output = {"ok": name}
        step = script.pop(0) if script else default
        if isinstance(step, ActionFailed):
            raise step
        if callable(step):
            return await step()
        return step


class ByType:
    """The action runners of a process, by action type: a real one for http-request, the log action's own."""

    def __init__(self, http: Any) -> None:
        self._runners: dict[str, Any] = {"http-request": http, "log": LogActionRunner()}

    async def run(self, spec: ActionSpec, context: TemplateContext) -> Output:
        result: Output = await self._runners[spec.type].run(spec, context)
        return result


class RecordingRequests:
    """The trigger's publisher: keeps the requests it was given."""

    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []

    async def publish(self, request: ExecutionRequest) -> None:
        self.sent.append(request)


class RecordingEvents:
    """A LifecycleEventPublisher that keeps what it was given, in the order publishes completed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish_event(self, event: Event) -> None:
        await asyncio.sleep(0)  # a real publish suspends; ordering must not depend on it not doing so
        self.events.append(event)

    def types(self) -> list[str]:
        return [event.type.value for event in self.events]


class CallLog:
    """Wraps a repository: logs each call's name into a shared list; a method may be made to fail."""

    def __init__(self, inner: Any, log: list[str], prefix: str) -> None:
        self._inner = inner
        self._log = log
        self._prefix = prefix
        self.failures: dict[str, int] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.on_call: Callable[[str, dict[str, Any]], None] | None = None  # runs before each call, as it is made

    def fail(self, method: str, times: int) -> None:
        self.failures[method] = times

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append(f"{self._prefix}.{name}")
            self.calls.append((name, kwargs))
            if self.on_call is not None:
                self.on_call(name, kwargs)
            if self.failures.get(name, 0) > 0:
                self.failures[name] -= 1
                raise DependencyUnavailable("mongodb", "test database is down")
            return await method(*args, **kwargs)

        return call


def workflow(actions: list[dict[str, Any]], *, retry: dict[str, Any] | None = None, workflow_id: str = "w") -> Workflow:
    body: dict[str, Any] = {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": actions}
    if retry is not None:
        body["retry"] = retry
    return Workflow.create(WorkflowDefinition.model_validate(body), now=START, next_run_at=None)


def log_action(name: str) -> dict[str, Any]:
    return {"type": "log", "name": name, "message": f"this is {name}"}


def http_action(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http-request", "name": name, "url": "https://example.com/" + name, **extra}


async def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail with `what` at the deadline."""
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, f"not within {deadline:g}s: {what}"
        await asyncio.sleep(0.005)
