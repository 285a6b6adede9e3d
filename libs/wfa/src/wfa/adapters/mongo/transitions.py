"""The domain's transitions (wfa.domain.transition) as MongoDB writes: the precondition becomes the filter of one
conditional `update_one`, the effect its update.

`update_one` by `_id` rather than `find_one_and_update`: SecantusDB answers findAndModify by scanning the whole
collection (its cost grows with stored history), an update by `_id` at a constant cost; where the caller needs
the document, it is read by `_id` after the write (`find_one`, constant too). MongoDB serves both from the `_id`
index. A write that did not match is explained by that same read: the state it finds says whether the change
had landed already (a repeated send) or why it did not apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import TypeVar

from pydantic import BaseModel

from wfa.adapters.mongo.documents import Document, value_at
from wfa.domain.transition import (
    Condition,
    HasAtLeast,
    HasFewerThan,
    Holds,
    Is,
    IsAtOrBefore,
    IsBelow,
    IsNotAfter,
    IsOneOf,
    StartsWith,
    Transition,
)

F = TypeVar("F", bound=StrEnum)

Paths = Mapping[F, str]
"""Where each field of a transition is stored in the document."""


def _bson(value: object) -> object:
    if isinstance(value, BaseModel):
        return {key: _bson(item) for key, item in value.model_dump(by_alias=True).items()}
    return value.value if isinstance(value, Enum) else value


def _clause(condition: Condition) -> object:
    match condition:
        case Is(value):
            return _bson(value)
        case IsOneOf(values):
            return {"$in": [_bson(value) for value in values]}
        case IsNotAfter(moment):
            # "null, absent or not after": `$not: {$gt}` matches all three in one clause (no top-level $or, which
            # SecantusDB answers by scanning the whole collection).
            return {"$not": {"$gt": moment}}
        case IsAtOrBefore(moment):
            return {"$lte": moment}
        case IsBelow(limit):
            # A counter stored before it existed is absent, and counts as 0: `$not: {$gte}` matches it too (as
            # IsNotAfter, without a top-level $or). Below 0 nothing is, absent included: a plain `$lt` says so.
            return {"$not": {"$gte": limit}} if limit > 0 else {"$lt": limit}
        case Holds(item):
            return _bson(item)  # equality with an array field matches when the array holds the item
        case HasFewerThan() | HasAtLeast() | StartsWith():
            raise AssertionError("a list's length or head is a clause on an item's path (write_filter)")


def _path_and_clause(condition: Condition, path: str) -> tuple[str, object]:
    """A list's length is asked of the path of its last allowed item (`holders.<n-1>`): whether that item exists.
    One clause on the field, no `$expr` nor `$size` range (which MongoDB cannot compare): an indexable filter."""
    match condition:
        case HasFewerThan(count):
            return f"{path}.{count - 1}", {"$exists": False}
        case HasAtLeast(count):
            return f"{path}.{count - 1}", {"$exists": True}
        case StartsWith(item):
            return f"{path}.0", _bson(item)
    return path, _clause(condition)


def write_filter(change: Transition[F], paths: Paths[F], selector: Document) -> Document:
    """`selector` (the document's `_id`, and anything the store itself requires) plus the precondition."""
    return {**selector, **dict(_path_and_clause(condition, paths[name]) for name, condition in change.requires.items())}


def write_update(change: Transition[F], paths: Paths[F], *, also_set: Document | None = None) -> Document:
    """The effect, plus `also_set`: fields the store keeps beside the transition's (the runner's record)."""
    sets = {**(also_set or {}), **{paths[name]: _bson(value) for name, value in change.sets.items()}}
    update: Document = {"$set": sets} if sets else {}
    if change.removes:
        update["$pull"] = {paths[name]: _bson(item) for name, item in change.removes.items()}
    if change.increments:
        update["$inc"] = {paths[name]: step for name, step in change.increments.items()}
    appends = {name: appended for name, appended in change.appends.items() if appended.items}
    if appends:
        # `$slice` keeps the list bounded in the same write: a log of outcomes costs no command of its own.
        update["$push"] = {
            paths[name]: {"$each": [_bson(item) for item in appended.items], "$slice": -appended.keep}
            for name, appended in appends.items()
        }
    return update


def state_of(document: Document, paths: Paths[F]) -> dict[F, object]:
    """The transition fields' values in a stored document (enums compare equal to their stored strings)."""
    return {name: value_at(document, path) for name, path in paths.items()}
