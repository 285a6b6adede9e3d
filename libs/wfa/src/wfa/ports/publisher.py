"""Publishing ports: how the core hands work and news to the message bus."""

from __future__ import annotations

from typing import Protocol

from wfa.events import Event, ExecutionRequest


class ExecutionRequestPublisher(Protocol):
    async def publish(self, request: ExecutionRequest) -> None:
        """Deliver the request to the runner group. Raises DependencyUnavailable when the broker cannot be
        reached; the execution record stays and the stall sweep sends it again."""


class LifecycleEventPublisher(Protocol):
    async def publish_event(self, event: Event) -> None:
        """Best effort: a lost lifecycle (or workflow) event never blocks or fails an execution or a request."""
