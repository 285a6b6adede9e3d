"""A state change written once: the precondition it needs and the values it sets.

The rules of the trigger lock (`wfa.domain.trigger_lock`) and of an execution's claims (`wfa.domain.run_claims`)
are transitions. The in-memory repositories apply them to their objects; the MongoDB ones translate them into a
filter (the precondition) and an update (the effect) of one conditional write, so that a rule cannot differ
between the two; the contract suite (tests/contract) proves each translation.

A write may be sent twice (PyMongo retries a write once after a network error, and our own loops retry on an
outage), and the second send then meets the state the first one left: its precondition fails although the
change is made. `landed` recognises that state, so that a write that landed is reported as a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

F = TypeVar("F", bound=StrEnum)


@dataclass(frozen=True)
class Is:
    """The field equals `value` (None: the field is null or absent)."""

    value: object


@dataclass(frozen=True)
class IsOneOf:
    values: tuple[object, ...]


@dataclass(frozen=True)
class IsNotAfter:
    """The field is null, or a moment at or before `moment`: a lease that has expired, or none."""

    moment: datetime


@dataclass(frozen=True)
class IsAtOrBefore:
    """The field is a moment at or before `moment` (not null): something due."""

    moment: datetime


@dataclass(frozen=True)
class IsBelow:
    """The counter is below `limit`, a null or absent counter counting as 0."""

    limit: int


@dataclass(frozen=True)
class Holds:
    """The list field holds `item` (the extra slots of a concurrency limit: `execution_id` is one of the holders)."""

    item: object


@dataclass(frozen=True)
class StartsWith:
    """The list field's first item is `item` (the head of a queue: the one to start next)."""

    item: object


@dataclass(frozen=True)
class HasFewerThan:
    """The list field has fewer than `count` items (a null or absent list has none); `count` ≥ 1."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a list has fewer than 1 item only when empty: count is at least 1")


@dataclass(frozen=True)
class HasAtLeast:
    """The list field has at least `count` items (`count` ≥ 1)."""

    count: int


Condition = Is | IsOneOf | IsNotAfter | IsAtOrBefore | IsBelow | Holds | StartsWith | HasFewerThan | HasAtLeast


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def holds(condition: Condition, value: object) -> bool:
    match condition:
        case Is(expected):
            return value == expected
        case IsOneOf(values):
            return value in values
        case IsNotAfter(moment):
            return value is None or (isinstance(value, datetime) and value <= moment)
        case IsAtOrBefore(moment):
            return isinstance(value, datetime) and value <= moment
        case IsBelow(limit):
            return (value if isinstance(value, int) else 0) < limit
        case Holds(item):
            return item in _items(value)
        case StartsWith(item):
            items = _items(value)
            return bool(items) and items[0] == item
        case HasFewerThan(count):
            return len(_items(value)) < count
        case HasAtLeast(count):
            return len(_items(value)) >= count


@dataclass(frozen=True)
class Appended:
    """Items added at the end of a list field, of which only the last `keep` are kept (a bounded log)."""

    items: tuple[object, ...]
    keep: int


@dataclass(frozen=True)
class Transition(Generic[F]):
    """`requires` each field to meet its condition; then `sets` fields to values, `increments` counters,
    `appends` to bounded lists and `removes` an item from lists (every occurrence)."""

    requires: Mapping[F, Condition]
    sets: Mapping[F, object]
    increments: Mapping[F, int] = field(default_factory=dict)
    appends: Mapping[F, Appended] = field(default_factory=dict)
    removes: Mapping[F, object] = field(default_factory=dict)

    def allows(self, state: Mapping[F, object]) -> bool:
        return all(holds(condition, state.get(name)) for name, condition in self.requires.items())

    def applied_to(self, state: Mapping[F, object]) -> dict[F, object]:
        """The state after the change (the caller checked `allows`)."""
        after = dict(state)
        after.update(self.sets)
        for name, step in self.increments.items():
            current = after.get(name)
            after[name] = (current if isinstance(current, int) else 0) + step
        for name, appended in self.appends.items():
            current = after.get(name)
            items = [*(current if isinstance(current, list) else []), *appended.items]
            after[name] = items[-appended.keep :]
        for name, item in self.removes.items():
            after[name] = [kept for kept in _items(after.get(name)) if kept != item]
        return after

    def landed(self, state: Mapping[F, object]) -> bool:
        """Whether `state` is what this change leaves: a repeated send of it finds its own work done. Meaningful
        for transitions that set a value unique to the caller (a claim token, an execution id, a moment)."""
        return all(state.get(name) == value for name, value in self.sets.items())
