"""`wfa executions ls|get`, `wfa cancel`, `wfa retry`: executions, of one workflow or across workflows."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from wfa.domain.execution import ExecutionStatus
from wfa_cli.app import ApiKeyOption, OutputOption, UrlOption, app, session
from wfa_cli.watch import table
from wfa_cli.workflow_commands import IdempotencyOption, TimeoutOption, WaitOption, report_started

executions_app = typer.Typer(help="Read executions.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")

ExecutionIdArgument = Annotated[str, typer.Argument(help="The executionId", show_default=False)]


@executions_app.command("ls")
def list_executions(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Only this workflow's executions")] = None,
    status: Annotated[ExecutionStatus | None, typer.Option("--status", help="Only executions with this status")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first")] = 50,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """List executions, newest first: of one workflow, or across workflows."""
    with session(ctx, url, api_key, output) as s:
        items = s.api.list_executions(workflow_id=workflow, status=status.value if status else None, limit=limit)
        grid = Table("executionId", "workflowId", "status", "reason", "attempt", "createdAt", "duration")
        for item in items:
            duration = item.get("durationMs")
            grid.add_row(
                escape(str(item.get("executionId"))),
                escape(str(item.get("workflowId"))),
                escape(str(item.get("status"))),
                escape(str(item.get("reason"))),
                str(item.get("attempt")),
                escape(str(item.get("createdAt"))),
                f"{duration} ms" if isinstance(duration, int) else "",
            )
        s.output.show(grid)
        s.output.document({"items": items})


@executions_app.command("get")
def get_execution(
    ctx: typer.Context,
    execution_id: ExecutionIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Show one execution: its status and each action's run (compensations and onFailure included)."""
    with session(ctx, url, api_key, output) as s:
        execution = s.api.get_execution(execution_id)
        s.output.show(table(execution))
        s.output.document(execution)


@app.command()
def cancel(
    ctx: typer.Context,
    execution_id: ExecutionIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Cancel a queued, pending or running execution."""
    with session(ctx, url, api_key, output) as s:
        execution = s.api.cancel_execution(execution_id)
        s.output.line(f"execution {escape(execution_id)}: {escape(str(execution.get('status')))}")
        s.output.document(execution)


@app.command()
def retry(
    ctx: typer.Context,
    execution_id: ExecutionIdArgument,
    idempotency_key: IdempotencyOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Retry a failed or cancelled execution as a new one, from its first action not succeeded."""
    with session(ctx, url, api_key, output) as s:
        started = s.api.retry_execution(execution_id, idempotency_key=idempotency_key)
        report_started(s, started, wait=wait, timeout=timeout)
