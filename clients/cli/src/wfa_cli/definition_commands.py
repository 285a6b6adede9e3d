"""`wfa apply`, `wfa validate`, `wfa diff`: definition files against the API's model and the server."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from wfa_cli import definitions
from wfa_cli.app import ApiKeyOption, OutputOption, Session, UrlOption, app, session
from wfa_cli.apply import Applier, Change, Result, parse_selector, summary, summary_line
from wfa_cli.definitions import Document
from wfa_cli.errors import EXIT_FAILED, UsageError

FilesOption = Annotated[
    list[str],
    typer.Option(
        "--filename",
        "-f",
        metavar="PATH",
        help="A YAML or JSON file, a directory (read recursively) or - for stdin; repeatable",
        show_default=False,
    ),
]
MorePaths = Annotated[
    list[str] | None,
    typer.Argument(
        help="More paths, so that `-f examples/*.yaml` takes every file the shell expands", metavar="[PATH]..."
    ),
]


def _read_valid(s: Session, files: list[str]) -> list[Document] | None:
    """The documents when every one is valid; otherwise each problem is reported (file#document: loc: msg) and
    None is returned: nothing may be sent then."""
    if not files:
        raise UsageError("give the definitions with -f PATH (a file, a directory or - for stdin)")
    documents = definitions.read(files, s.runtime.stdin)
    invalid = definitions.validate(documents)
    if not invalid:
        return documents
    for document in invalid:
        for problem in document.problems:
            s.output.err.print(f"[red]invalid:[/red] {escape(str(document.source))}: {escape(problem)}")
    s.output.err.print(f"{len(invalid)} of {len(documents)} definitions are invalid: nothing was sent")
    s.output.document(
        {
            "valid": False,
            "invalid": [{"source": str(d.source), "problems": d.problems} for d in invalid],
            "summary": {"documents": len(documents), "invalid": len(invalid)},
        }
    )
    return None


@app.command()
def validate(
    ctx: typer.Context,
    files: FilesOption = [],  # noqa: B006 (Typer reads the default; it is never mutated)
    more: MorePaths = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Validate definition files locally, with the API's own rules (templates included); sends nothing."""
    with session(ctx, url, api_key, output) as s:
        documents = _read_valid(s, [*files, *(more or [])])
        if documents is None:
            raise typer.Exit(EXIT_FAILED)
        for document in documents:
            s.output.line(f"[green]valid[/green] {escape(document.workflow_id)} ({escape(str(document.source))})")
        s.output.line(f"{len(documents)} definitions are valid")
        s.output.document(
            {
                "valid": True,
                "workflows": [{"workflowId": d.workflow_id, "source": str(d.source)} for d in documents],
                "summary": {"documents": len(documents), "invalid": 0},
            }
        )


@app.command()
def apply(
    ctx: typer.Context,
    files: FilesOption = [],  # noqa: B006
    more: MorePaths = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change, with a diff; change nothing")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete workflows carrying the --selector labels that the files lack")
    ] = False,
    selector: Annotated[
        list[str],
        typer.Option(
            "--selector", "-l", metavar="KEY=VALUE", help="key=value: the labels --prune works within; repeatable"
        ),
    ] = [],  # noqa: B006
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Create or update the workflows the files define (matched by workflowId); validates all of them first."""
    with session(ctx, url, api_key, output) as s:
        if prune and not selector:
            raise UsageError("--prune needs --selector key=value: it never deletes outside a label")
        labels = parse_selector(selector)
        documents = _read_valid(s, [*files, *(more or [])])
        if documents is None:
            raise typer.Exit(EXIT_FAILED)
        changes = Applier(s.api, s.output, dry_run=dry_run).run(documents, prune=labels if prune else None)
        _finish(s, changes, dry_run=dry_run, failed_when_changed=False)


@app.command()
def diff(
    ctx: typer.Context,
    files: FilesOption = [],  # noqa: B006
    more: MorePaths = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    output: OutputOption = None,
) -> None:
    """Show how the server differs from the files (a unified YAML diff per workflow); exit 1 when they differ."""
    with session(ctx, url, api_key, output) as s:
        documents = _read_valid(s, [*files, *(more or [])])
        if documents is None:
            raise typer.Exit(EXIT_FAILED)
        changes = Applier(s.api, s.output, dry_run=True).run(documents, prune=None)
        _finish(s, changes, dry_run=True, failed_when_changed=True)


def _finish(s: Session, changes: list[Change], *, dry_run: bool, failed_when_changed: bool) -> None:
    counts = summary(changes)
    s.output.line(summary_line(counts, dry_run=dry_run))
    document: dict[str, Any] = {
        "dryRun": dry_run,
        "workflows": [change.as_json() for change in changes],
        "summary": counts,
    }
    s.output.document(document)
    if counts[Result.FAILED.value]:
        raise typer.Exit(EXIT_FAILED)
    if failed_when_changed and any(change.result is not Result.UNCHANGED for change in changes):
        raise typer.Exit(EXIT_FAILED)
