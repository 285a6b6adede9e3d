"""`wfa apply` and `wfa diff`: bring the server in line with definition files, or show how far apart they are.

Each definition is matched by `workflowId`: GET it, then POST when it is missing, PUT with If-Match when its
definition part differs, nothing when it is equal (the comparison ignores server-managed fields). With a label
selector, workflows carrying the labels that the files no longer define are deleted (pruned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wfa.domain.workflow import strip_server_managed
from wfa_cli.client import WorkflowsApi
from wfa_cli.definitions import Document, compact, definition_part, unified_diff
from wfa_cli.errors import ApiError, Unauthorized, UsageError
from wfa_cli.output import Output

PROGRESS_FROM = 20
"""A progress bar is shown from this many workflows on (a terminal only): below it, the lines are the progress."""


class Result(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass
class Change:
    workflow_id: str
    result: Result
    source: str | None = None
    diff: str = ""
    version: int | None = None
    error: str | None = None
    details: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "result": self.result.value,
            "source": self.source,
            "version": self.version,
            "diff": self.diff or None,
            "error": self.error,
            "details": self.details,
        }


def parse_selector(selectors: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for selector in selectors:
        key, sep, value = selector.partition("=")
        if not sep or not key:
            raise UsageError(f"--selector takes key=value, not {selector!r}")
        labels[key] = value
    return labels


def carries(resource: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a resource carries every label. Checked here as well as by the server's `?label=` filter: a server
    that does not filter by label yet would list every workflow, and pruning must never delete those."""
    own = resource.get("labels")
    return isinstance(own, dict) and all(own.get(key) == value for key, value in labels.items())


class Applier:
    def __init__(self, api: WorkflowsApi, output: Output, *, dry_run: bool) -> None:
        self.api = api
        self.output = output
        self.dry_run = dry_run

    def run(self, documents: list[Document], *, prune: dict[str, str] | None) -> list[Change]:
        changes: list[Change] = []
        with self._progress(len(documents)) as advance:
            for document in documents:
                change = self.apply_one(document)
                changes.append(change)
                self.report(change)
                advance()
        if prune is not None:
            kept = {document.workflow_id for document in documents}
            for resource in self.api.list_workflows([f"{key}={value}" for key, value in prune.items()]):
                if carries(resource, prune) and resource["workflowId"] not in kept:
                    change = self.delete(resource)
                    changes.append(change)
                    self.report(change)
        return changes

    def apply_one(self, document: Document) -> Change:
        assert document.definition is not None
        wanted = compact(document.definition)
        workflow_id = document.workflow_id
        source = str(document.source)
        try:
            found = self.api.find_workflow(workflow_id)
            if found is None:
                diff = unified_diff(None, wanted, before_name="/dev/null", after_name=source)
                created = None if self.dry_run else self.api.create_workflow(wanted)
                return Change(workflow_id, Result.CREATED, source, diff, _version(created))
            resource, etag = found
            current = definition_part(resource, document.definition)
            if current == wanted:
                return Change(workflow_id, Result.UNCHANGED, source, version=_version(resource))
            diff = unified_diff(current, wanted, before_name=f"server/{workflow_id}", after_name=source)
            if self.dry_run:
                return Change(workflow_id, Result.UPDATED, source, diff, _version(resource))
            # If-Match: an edit made on the server between our GET and PUT is not overwritten (412).
            updated = self.api.replace_workflow(wanted, if_match=etag or str(resource.get("version")))
            return Change(workflow_id, Result.UPDATED, source, diff, _version(updated))
        except Unauthorized:
            raise  # no other workflow will fare better: stop at once
        except ApiError as exc:
            return Change(workflow_id, Result.FAILED, source, error=exc.message, details=exc.details)

    def delete(self, resource: dict[str, Any]) -> Change:
        workflow_id = str(resource["workflowId"])
        diff = unified_diff(
            compact(strip_server_managed(resource)), None, before_name=f"server/{workflow_id}", after_name="/dev/null"
        )
        try:
            if not self.dry_run:
                self.api.delete_workflow(workflow_id)
        except Unauthorized:
            raise
        except ApiError as exc:
            return Change(workflow_id, Result.FAILED, error=exc.message, details=exc.details)
        return Change(workflow_id, Result.DELETED, diff=diff, version=_version(resource))

    def report(self, change: Change) -> None:
        if change.result is Result.FAILED:
            # On stderr, as every error: stdout keeps the lines of what was done.
            if self.output.is_text:
                self.output.err.print(f"[red]error:[/red] {escape(change.workflow_id)}: {escape(change.error or '')}")
                for detail in change.details:
                    self.output.err.print(f"  {escape(detail)}")
            return
        colour = {Result.UNCHANGED: "dim", Result.DELETED: "yellow"}.get(change.result, "green")
        prefix = "would be " if self.dry_run and change.result is not Result.UNCHANGED else ""
        line = f"[{colour}]{prefix}{change.result.value}[/{colour}] {escape(change.workflow_id)}"
        self.output.line(line)
        if self.dry_run and change.diff:
            self.output.raw(change.diff)

    @contextmanager
    def _progress(self, total: int) -> Iterator[Callable[[], None]]:
        if total < PROGRESS_FROM or not self.output.live:
            yield lambda: None
            return
        progress = Progress(
            TextColumn("applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.output.err,
            transient=True,
        )
        task = progress.add_task("apply", total=total)
        with progress:
            yield lambda: progress.advance(task)


def summary(changes: list[Change]) -> dict[str, int]:
    counts = Counter(change.result.value for change in changes)
    return {result.value: counts.get(result.value, 0) for result in Result}


def summary_line(counts: dict[str, int], *, dry_run: bool) -> str:
    parts = [f"{counts[name]} {name}" for name in ("created", "updated", "unchanged", "deleted", "failed")]
    text = ", ".join(part for part in parts if not part.startswith("0 ")) or "nothing to apply"
    return f"{text} (dry run: nothing was changed)" if dry_run else text


def _version(resource: dict[str, Any] | None) -> int | None:
    version = (resource or {}).get("version")
    return version if isinstance(version, int) else None
