"""What an action runner is, and how one reports a failure that still produced output."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import JsonValue

from wfa.domain.errors import ActionFailed
from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import HttpRequestAction, LogAction

ActionSpec = LogAction | HttpRequestAction
Output = dict[str, JsonValue]


class ActionRunner(Protocol):
    async def run(self, action: Any, context: TemplateContext) -> Output:
        """Run one attempt of `action`, its templates rendered against `context`, and return its output (recorded on
        the execution).

        Raises ActionFailed (or ActionFailedWithOutput) when the attempt failed; `retryable` decides whether
        another attempt may follow."""


class ActionFailedWithOutput(ActionFailed):
    """A failed attempt that still has something to show, such as the response of an unexpected HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        output: Output,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, kind=kind, retryable=retryable, retry_after_seconds=retry_after_seconds)
        self.output = output


def output_of(failure: ActionFailed) -> Output | None:
    return failure.output if isinstance(failure, ActionFailedWithOutput) else None
