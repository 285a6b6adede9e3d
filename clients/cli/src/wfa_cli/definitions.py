"""Workflow definitions as files: reading them (YAML or JSON, directories, stdin, several YAML documents per file),
validating them with the API's own pydantic model, and the normalised form that `apply` and `diff` compare.

The YAML schema is the JSON API's (camelCase keys); a resource as `wfa get workflow -o yaml` printed it is accepted
too, its server-managed fields ignored, as PUT does.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from wfa.domain.workflow import WorkflowDefinition, strip_server_managed
from wfa_cli.errors import UsageError

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True)
class Source:
    """Where a document came from: a file (or `-`) and its 0-based index among the file's documents."""

    path: str
    index: int

    def __str__(self) -> str:
        return f"{self.path}#{self.index}"


@dataclass
class Document:
    source: Source
    data: Any
    definition: dict[str, Any] | None = None
    """The normalised definition, once valid."""
    problems: list[str] = field(default_factory=list)
    """`loc: msg` per problem, once invalid."""

    @property
    def workflow_id(self) -> str:
        return str(self.definition["workflowId"]) if self.definition else ""


def expand(paths: Iterable[str]) -> Iterator[str]:
    """Each path, a directory replaced by the definition files under it (recursively, in a stable order)."""
    for path in paths:
        if path == STDIN:
            yield path
            continue
        candidate = Path(path)
        if candidate.is_dir():
            found = sorted(p for p in candidate.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            yield from (str(p) for p in found)
        elif candidate.is_file():
            yield path
        else:
            raise UsageError(f"{path}: no such file or directory")


def read(paths: Iterable[str], stdin: TextIO | None = None) -> list[Document]:
    """Every document of every path; a file that cannot be parsed becomes one document with the parse error."""
    documents: list[Document] = []
    for path in expand(paths):
        try:
            text = (stdin or sys.stdin).read() if path == STDIN else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read: {exc}") from None
        documents.extend(_parse(path, text))
    return documents


def _parse(path: str, text: str) -> list[Document]:
    try:
        if path.lower().endswith(".json"):
            loaded: list[Any] = [json.loads(text)]
        else:
            # JSON is YAML as well, so stdin and .yaml files may hold either.
            loaded = [data for data in yaml.safe_load_all(text) if data is not None]
    except (ValueError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        return [Document(Source(path, 0), None, problems=[f"not valid {_kind(path)}: {reason}"])]
    return [Document(Source(path, index), data) for index, data in enumerate(loaded)]


def _kind(path: str) -> str:
    return "JSON" if path.lower().endswith(".json") else "YAML"


def validate(documents: list[Document]) -> list[Document]:
    """Validate each document in place with the API's model (templates included); also refuse a workflowId that
    two documents define. Returns the invalid ones."""
    for document in documents:
        if document.problems:
            continue
        if not isinstance(document.data, dict):
            document.problems.append("a workflow definition is a mapping (workflowId, trigger, actions, ...)")
            continue
        try:
            model = WorkflowDefinition.model_validate(strip_server_managed(document.data))
        except ValidationError as exc:
            document.problems.extend(
                f"{'.'.join(str(part) for part in error['loc']) or '(document)'}: {_message(error['msg'])}"
                for error in exc.errors(include_url=False)
            )
            continue
        document.definition = normalise(model)
    seen: dict[str, Source] = {}
    for document in documents:
        if document.definition is None:
            continue
        first = seen.setdefault(document.workflow_id, document.source)
        if first != document.source:
            document.problems.append(f"workflowId: {document.workflow_id!r} is defined in {first} already")
            document.definition = None
    return [document for document in documents if document.problems]


def _message(message: str) -> str:
    # pydantic prefixes the text of a ValueError raised by a validator; the reader wants only the reason.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def normalise(model: WorkflowDefinition) -> dict[str, Any]:
    """The definition as the API would store it (every default filled in, nulls included: `definition_part` takes
    its keys from it), as JSON, keys camelCase."""
    return model.model_dump(mode="json", by_alias=True)


def definition_part(resource: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """The definition inside a server resource, shaped like `like` (a normalised definition): only the keys a
    definition has, at the top and in the trigger. Server-managed fields, including ones a newer server adds
    (such as `trigger.running`), are left out, so they never count as a change."""
    part = {key: resource.get(key) for key in like}
    trigger = resource.get("trigger")
    if isinstance(trigger, dict) and isinstance(like.get("trigger"), dict):
        part["trigger"] = {key: trigger.get(key) for key in like["trigger"]}
    return compact(part)


def compact(definition: dict[str, Any]) -> dict[str, Any]:
    """Without the null fields of the definition's own objects (a null there means "not given"); user data (a
    body, headers, input) is kept exactly as written."""

    def action(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        shaped = _drop_nulls(item)
        if isinstance(shaped.get("compensate"), dict):
            shaped["compensate"] = action(shaped["compensate"])
        if isinstance(shaped.get("retry"), dict):
            shaped["retry"] = _drop_nulls(shaped["retry"])
        return shaped

    shaped = _drop_nulls(definition)
    for key in ("trigger", "retry"):
        if isinstance(shaped.get(key), dict):
            shaped[key] = _drop_nulls(shaped[key])
    for key in ("actions", "onFailure"):
        if isinstance(shaped.get(key), list):
            shaped[key] = [action(item) for item in shaped[key]]
    return shaped


def _drop_nulls(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def as_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


def unified_diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None, *, before_name: str, after_name: str
) -> str:
    """A unified diff of two definitions as YAML; an absent side is empty."""
    old = as_yaml(before).splitlines(keepends=True) if before is not None else []
    new = as_yaml(after).splitlines(keepends=True) if after is not None else []
    return "".join(difflib.unified_diff(old, new, fromfile=before_name, tofile=after_name))
