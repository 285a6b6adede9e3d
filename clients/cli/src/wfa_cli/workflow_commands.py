"""`wfa get`, `wfa versions`, `wfa pause|resume|delete`, `wfa trigger`: one workflow or many."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from wfa_cli.app import ApiKeyOption, OutputOption, Session, UrlOption, app, session
from wfa_cli.apply import carries, parse_selector
from wfa_cli.definitions import as_yaml
from wfa_cli.errors import EXIT_FAILED, UsageError
from wfa_cli.watch import follow

get_app = typer.Typer(help="Read workflows.", no_args_is_help=True)
app.add_typer(get_app, name="get")

WorkflowIdArgument = Annotated[str, typer.Argument(help="The workflowId", show_default=False)]


@get_app.command("workflows")
def get_workflows(
    ctx: typer.Context,
    selector: Annotated[
        list[str],
        typer.Option(
            "--selector", "-l", metavar="KEY=VALUE", help="key=value: only workflows with this label; repeatable"
        ),
    ] = [],  # noqa: B006 (Typer reads the default; it is never mutated)
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """List workflows (every page), in workflowId order."""
    with session(ctx, url, api_key, output) as s:
        labels = parse_selector(selector)
        items = list(s.api.list_workflows([f"{key}={value}" for key, value in labels.items()]))
        if labels:
            items = [item for item in items if carries(item, labels)]
        grid = Table("workflowId", "trigger", "enabled", "version", "status", "next run", "labels")
        for item in items:
            trigger = item.get("trigger") or {}
            grid.add_row(
                escape(str(item.get("workflowId"))),
                escape(_trigger_text(trigger)),
                "yes" if item.get("enabled") else "paused",
                str(item.get("version")),
                escape(_lock_text(trigger)),
                escape(str(trigger.get("nextRunAt") or "")),
                escape(",".join(f"{k}={v}" for k, v in (item.get("labels") or {}).items())),
            )
        s.output.show(grid)
        s.output.document({"items": items})


def _lock_text(trigger: dict[str, Any]) -> str:
    """The lock's state, with the executions waiting for a slot when there are (whenBusy: queue)."""
    queued = trigger.get("queued")
    return f"{trigger.get('status')}" + (f", {queued} waiting" if isinstance(queued, int) and queued > 0 else "")


@get_app.command("workflow")
def get_workflow(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Show one workflow as YAML (the default) or JSON (-o json)."""
    with session(ctx, url, api_key, output) as s:
        resource, _ = s.api.get_workflow(workflow_id)
        s.output.raw(as_yaml(resource))
        s.output.document(resource)


@app.command()
def versions(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """List a workflow's stored versions, newest first."""
    with session(ctx, url, api_key, output) as s:
        items = list(s.api.list_versions(workflow_id))
        grid = Table("version", "updatedAt", "changedBy", "changes")
        for item in items:
            grid.add_row(
                str(item.get("version")),
                escape(str(item.get("updatedAt"))),
                escape(str(item.get("changedBy") or "")),
                escape(", ".join(str(change) for change in item.get("changes") or [])),
            )
        s.output.show(grid)
        s.output.document({"items": items})


@app.command()
def pause(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Pause a workflow: no scheduled fires and no triggers until resumed."""
    with session(ctx, url, api_key, output) as s:
        resource = s.api.pause_workflow(workflow_id)
        s.output.line(f"paused {escape(workflow_id)}")
        s.output.document(resource)


@app.command()
def resume(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Resume a paused workflow: its schedule goes on at the next slot."""
    with session(ctx, url, api_key, output) as s:
        resource = s.api.resume_workflow(workflow_id)
        next_run = (resource.get("trigger") or {}).get("nextRunAt")
        s.output.line(f"resumed {escape(workflow_id)}" + (f" (next run {escape(next_run)})" if next_run else ""))
        s.output.document(resource)


@app.command()
def delete(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Delete a workflow; its executions and versions stay readable."""
    with session(ctx, url, api_key, output) as s:
        s.api.delete_workflow(workflow_id)
        s.output.line(f"deleted {escape(workflow_id)}")
        s.output.document({"workflowId": workflow_id, "deleted": True})


def parse_input(value: str | None) -> dict[str, Any] | None:
    """`--input`: a JSON object, or @file holding one."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--input {value}: cannot read: {exc}") from None
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--input is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError('--input must be a JSON object, such as \'{"version": "1.4.0"}\'')
    return parsed


InputOption = Annotated[
    str | None, typer.Option("--input", "-i", help="The execution's input: a JSON object, or @file.json")
]
IdempotencyOption = Annotated[
    str | None, typer.Option("--idempotency-key", help="Repeating a key returns the execution it started")
]
WaitOption = Annotated[
    bool, typer.Option("--wait", "-w", help="Follow the execution to its end; exit 1 when it failed or was cancelled")
]
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", help="With --wait: give up waiting after this many seconds (exit 1)")
]


@app.command()
def trigger(
    ctx: typer.Context,
    workflow_id: WorkflowIdArgument,
    input: InputOption = None,
    idempotency_key: IdempotencyOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Start an execution of a workflow now."""
    with session(ctx, url, api_key, output) as s:
        started = s.api.trigger(workflow_id, input=parse_input(input), idempotency_key=idempotency_key)
        report_started(s, started, wait=wait, timeout=timeout)


def report_started(s: Session, started: dict[str, Any], *, wait: bool, timeout: float | None) -> None:
    """After a trigger or a retry: the execution's id, or with --wait its run to the end and the exit code."""
    execution_id = str(started.get("executionId"))
    s.output.line(
        f"execution {escape(execution_id)} of {escape(str(started.get('workflowId')))}: "
        f"{escape(str(started.get('status')))}"
    )
    if not wait:
        s.output.document(started)
        return
    final = follow(s.api, execution_id, s.output, clock=s.runtime.clock, timeout=timeout)
    s.output.document(final)
    if final.get("status") != "succeeded":
        raise typer.Exit(EXIT_FAILED)


def _trigger_text(trigger: dict[str, Any]) -> str:
    kind = str(trigger.get("type"))
    if kind == "periodic":
        return f"every {trigger.get('interval')}"
    if kind == "cron":
        return f"cron {trigger.get('cron')} {trigger.get('timezone') or 'UTC'}"
    return kind
