"""Where the CLI writes: text for people (Rich, tables, colours only on a terminal), or exactly one JSON (or YAML)
document on stdout for scripts. Errors always go to stderr, one line each, whatever the format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape

from wfa_cli.definitions import as_yaml
from wfa_cli.errors import CliError


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    YAML = "yaml"


def _console(*, stderr: bool) -> Console:
    # soft_wrap: a long line (a diff, a URL) is never broken in two when piped into a file or grep.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@dataclass
class Output:
    format: Format = Format.TEXT
    out: Console = field(default_factory=lambda: _console(stderr=False))
    err: Console = field(default_factory=lambda: _console(stderr=True))

    @property
    def is_text(self) -> bool:
        return self.format is Format.TEXT

    @property
    def live(self) -> bool:
        """A live view (progress bar, a refreshing table) is for a person at a terminal reading text."""
        return self.is_text and self.err.is_terminal and self.out.is_terminal

    def line(self, markup: str) -> None:
        """A line of text output (Rich markup; escape user values with `escape`); nothing in JSON/YAML mode."""
        if self.is_text:
            self.out.print(markup)

    def show(self, renderable: RenderableType) -> None:
        if self.is_text:
            self.out.print(renderable)

    def raw(self, text: str) -> None:
        """Text as it is (a diff, YAML), never read as markup."""
        if self.is_text:
            self.out.print(text, markup=False, end="" if text.endswith("\n") else "\n")

    def document(self, document: Any) -> None:
        """The one document of a JSON/YAML run; nothing in text mode."""
        if self.format is Format.JSON:
            self.out.file.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        elif self.format is Format.YAML:
            self.out.file.write(as_yaml(document))

    def note(self, markup: str) -> None:
        """Progress and hints for a person: stderr, text mode only."""
        if self.is_text:
            self.err.print(markup)

    def failure(self, error: CliError) -> None:
        self.err.print(f"[red]error:[/red] {escape(error.message)}")
        for detail in error.details:
            self.err.print(f"  {escape(detail)}")
        self.document(error.as_json())
