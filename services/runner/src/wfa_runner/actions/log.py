"""The `log` action: one structured log line at the action's level."""

from __future__ import annotations

import structlog

from wfa.domain.templates import Renderer, TemplateContext
from wfa.domain.workflow import LogAction, LogLevel
from wfa_runner.actions.base import Output

_LEVELS = {LogLevel.DEBUG: "debug", LogLevel.INFO: "info", LogLevel.WARNING: "warning", LogLevel.ERROR: "error"}


class LogActionRunner:
    def __init__(self, logger_name: str = "wfa.actions.log") -> None:
        self._log = structlog.get_logger(logger_name)

    async def run(self, action: LogAction, context: TemplateContext | None = None) -> Output:
        """Output: `{"message": <the rendered message>}`. Raises TemplateError when a template fails (secrets are
        refused in a log message when the definition is submitted, and none is given here)."""
        message = Renderer(context if context is not None else {}).text(action.message)
        # The execution's context (workflow_id, execution_id, attempt) is bound by the caller for every line.
        getattr(self._log, _LEVELS[action.level])(message, action=action.name)
        return {"message": message}
