"""Following an execution to its end (`wfa trigger --wait`, `wfa retry --wait`): poll it, tell each action (and
each compensation and onFailure run) as it starts and ends, and return the final record.

On a terminal the view is a table refreshed in place; otherwise each change is one plain line, so that a log or
a CI job reads the same story.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from wfa_cli.client import WorkflowsApi
from wfa_cli.errors import CliError
from wfa_cli.output import Output

POLL_INTERVAL = 0.5
"""Seconds between two reads of the execution: the contract's ceiling on how often --wait polls."""

FINAL = ("succeeded", "failed", "cancelled")
SECTIONS = (("actions", ""), ("compensations", "compensation "), ("onFailure", "onFailure "))
_COLOURS = {"succeeded": "green", "failed": "red", "cancelled": "red", "skipped": "dim", "running": "cyan"}


@dataclass(frozen=True)
class Clock:
    """Time as --wait needs it; tests pass one that does not sleep."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


class WaitTimedOut(CliError):
    pass


def runs(execution: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every action run of the execution with its label: the actions, then the failure handlers."""
    for key, label in SECTIONS:
        for run in execution.get(key) or []:
            if isinstance(run, dict):
                yield f"{label}{run.get('name')}", run


def events(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Plain lines (Rich markup) for what changed between two reads of an execution."""
    lines: list[str] = []
    seen = dict(runs(before)) if before else {}
    for label, run in runs(after):
        old = seen.get(label, {})
        status, attempts = run.get("status"), run.get("attempts")
        if (status, attempts) == (old.get("status"), old.get("attempts")):
            continue
        attempt = f" (attempt {attempts})" if isinstance(attempts, int) and attempts > 1 else ""
        # A run that began and ended between two reads is told as both, so that every end has its start.
        missed_start = status in ("succeeded", "failed") and old.get("status") in (None, "not_started")
        if status == "running" or missed_start:
            lines.append(f"  {escape(label)} ({escape(str(run.get('type')))}) [cyan]started[/cyan]{attempt}")
        if status in ("succeeded", "failed", "skipped"):
            lines.append(f"  {escape(label)} {_coloured(str(status))}{_took(run)}{attempt}{_error(run)}")
    old_status = (before or {}).get("status")
    status = after.get("status")
    was_waiting = bool((before or {}).get("waiting"))
    if after.get("waiting") and not was_waiting:
        lines.append("  waiting for a slot (the workflow's concurrency queue)")
    elif was_waiting and not after.get("waiting"):
        lines.append("  got a slot")
    if status != old_status:
        if status == "pending":
            lines.append(f"  waiting to retry at {escape(str(after.get('nextRetryAt')))}")
        elif status in FINAL:
            lines.append(
                f"execution {escape(str(after.get('executionId')))} {_coloured(str(status))}{_took(after)}"
                f"{_error(after)}"
            )
    return lines


def table(execution: dict[str, Any]) -> Table:
    status = str(execution.get("status"))
    grid = Table(
        title=f"{escape(str(execution.get('workflowId')))} · {escape(str(execution.get('executionId')))} · "
        f"{_coloured(status)}{' (waiting for a slot)' if execution.get('waiting') else ''}{_took(execution)}",
        title_justify="left",
    )
    for column in ("action", "type", "status", "attempts", "duration", "error"):
        grid.add_column(column)
    for label, run in runs(execution):
        error = run.get("error") or {}
        grid.add_row(
            escape(label),
            escape(str(run.get("type"))),
            _coloured(str(run.get("status"))),
            str(run.get("attempts", "")),
            f"{run['durationMs']} ms" if isinstance(run.get("durationMs"), int) else "",
            escape(f"{error.get('type')}: {error.get('message')}") if error else "",
        )
    return grid


def follow(
    api: WorkflowsApi, execution_id: str, output: Output, *, clock: Clock, timeout: float | None
) -> dict[str, Any]:
    """Poll until the execution is final; returns its last read."""
    deadline = None if timeout is None else clock.monotonic() + timeout
    previous: dict[str, Any] | None = None
    live = Live(console=output.out, auto_refresh=False) if output.live else None
    if live is not None:
        live.start()
    try:
        while True:
            current = api.get_execution(execution_id)
            if live is not None:
                live.update(table(current), refresh=True)
            else:
                for line in events(previous, current):
                    output.line(line)
            previous = current
            if current.get("status") in FINAL:
                return current
            if deadline is not None and clock.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"execution {execution_id} is still {current.get('status')} after {timeout:g} s "
                    f"(it goes on; follow it with `wfa executions get {execution_id}`)"
                )
            clock.sleep(POLL_INTERVAL)
    finally:
        if live is not None:
            live.stop()


def _coloured(status: str) -> str:
    colour = _COLOURS.get(status)
    return f"[{colour}]{escape(status)}[/{colour}]" if colour else escape(status)


def _took(record: dict[str, Any]) -> str:
    duration = record.get("durationMs")
    return f" in {duration} ms" if isinstance(duration, int) else ""


def _error(record: dict[str, Any]) -> str:
    error = record.get("error")
    if not isinstance(error, dict):
        return ""
    return f": {escape(str(error.get('type')))}: {escape(str(error.get('message')))}"
