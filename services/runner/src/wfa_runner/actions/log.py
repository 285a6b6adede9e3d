"""The `log` action: one structured log line at the action's level."""

from __future__ import annotations

import structlog

from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import LogAction, LogLevel
from wfa_runner.actions.base import Output

_LEVELS = {LogLevel.DEBUG: "debug", LogLevel.INFO: "info", LogLevel.WARNING: "warning", LogLevel.ERROR: "error"}


class LogActionRunner:
    def __init__(self, logger_name: str = "wfa.actions.log") -> None:
        self._log = structlog.get_logger(logger_name)

    async def run(self, action: LogAction, context: TemplateContext | None = None) -> Output:
        # The execution's context (workflow_id, execution_id, attempt) is bound by the caller for every line.
        getattr(self._log, _LEVELS[action.level])(action.message, action=action.name)
        return {"message": action.message}
