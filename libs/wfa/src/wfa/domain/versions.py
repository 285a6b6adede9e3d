"""Versions of a workflow's definition and what changed between two of them (contract v2, "Versions").

A version is compared as its normalised definition in JSON form (every default filled in, durations as strings),
the form the API serves: the paths that differ, an RFC 6902 patch from one to the other, and a unified diff of
the two as YAML.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch
import yaml

from wfa.domain.workflow import Workflow, WorkflowDefinition

JsonDocument = dict[str, Any]

MAX_CHANGES = 100
"""A version's `changes` name at most this many paths (a rewritten body could otherwise list thousands)."""

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class WorkflowVersion:
    """One version of a workflow's definition, as it was stored by the create or update that made it."""

    workflow_id: str
    version: int
    updated_at: datetime
    changed_by: str | None
    created_at: datetime
    """The workflow's createdAt: tells a workflow apart from one created earlier under the same (deleted) id."""
    definition: WorkflowDefinition

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowVersion:
        return cls(
            workflow_id=workflow.workflow_id,
            version=workflow.version,
            updated_at=workflow.updated_at,
            changed_by=workflow.changed_by,
            created_at=workflow.created_at,
            definition=workflow.definition(),
        )

    def document(self) -> JsonDocument:
        """The normalised definition in its JSON form: what is compared, diffed and served."""
        return self.definition.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class DefinitionDiff:
    patch: list[JsonDocument]
    """RFC 6902 operations turning the first definition into the second."""
    text: str
    """A unified diff of the two definitions as YAML."""


def changed_paths(before: JsonDocument, after: JsonDocument, *, limit: int = MAX_CHANGES) -> list[str]:
    """The paths at which `after` differs from `before`, in document order: `trigger.interval`, `actions[1].url`,
    `labels["app.kubernetes.io/name"]`. A key or list entry present on one side only is one path; values of
    different JSON types (1 and true) differ. At most `limit` paths."""
    changes: list[str] = []
    stack: list[tuple[str, Any, Any]] = [("", before, after)]
    while stack and len(changes) < limit:  # a loop, not recursion: bodies may nest deeply
        path, old, new = stack.pop()
        children: list[tuple[str, Any, Any]] = []
        if isinstance(old, dict) and isinstance(new, dict):
            keys = [*new, *(key for key in old if key not in new)]
            for key in keys:
                child = _key_path(path, key)
                if key not in old or key not in new:
                    children.append((child, _MISSING, None))
                else:
                    children.append((child, old[key], new[key]))
        elif isinstance(old, list) and isinstance(new, list):
            for index in range(max(len(old), len(new))):
                child = f"{path}[{index}]"
                if index >= len(old) or index >= len(new):
                    children.append((child, _MISSING, None))
                else:
                    children.append((child, old[index], new[index]))
        elif old is _MISSING or not _same(old, new):
            changes.append(path)
            continue
        stack.extend(reversed(children))
    return changes


def diff_definitions(
    before: JsonDocument | None, after: JsonDocument, *, from_name: str, to_name: str
) -> DefinitionDiff:
    """`before` None: a diff from nothing (every field added)."""
    source = before if before is not None else {}
    patch: list[JsonDocument] = jsonpatch.make_patch(source, after).patch
    text = "".join(
        difflib.unified_diff(
            _yaml(before).splitlines(keepends=True),
            _yaml(after).splitlines(keepends=True),
            fromfile=from_name,
            tofile=to_name,
        )
    )
    return DefinitionDiff(patch=patch, text=text)


class _Missing:
    pass


_MISSING: Any = _Missing()


def _same(old: Any, new: Any) -> bool:
    # JSON's types, not Python's: 1 == True == 1.0 in Python, three different values in a definition.
    return type(old) is type(new) and bool(old == new)


def _key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _yaml(document: JsonDocument | None) -> str:
    if document is None:
        return ""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
