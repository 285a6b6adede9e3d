"""Labels: up to 32 `key: value` strings on a definition, and the `key=value` selectors that filter on them.

Keys may hold `.` and `/` (`app.kubernetes.io/name`) but never `=`, so a pair written `key=value` splits at its
first `=` whatever the value holds: that is how selectors are written and how MongoDB stores labels (an array of
such strings under one multikey index, never a sub-document whose dotted keys would read as paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import Field, StringConstraints

MAX_LABELS = 32
MAX_VALUE_LENGTH = 255
KEY_PATTERN = r"^[a-z0-9./_-]{1,63}$"

LabelKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description=f"Up to {MAX_LABELS} labels: keys of 1–63 characters `[a-z0-9./_-]`, values up to "
        f"{MAX_VALUE_LENGTH} characters. `GET /workflows?label=key=value` filters on them.",
    ),
]
Selector = tuple[str, str]
"""A (key, value) pair a labelled workflow must carry."""

_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789./_-")


def parse_selector(text: str) -> Selector:
    """`key=value` → (key, value). Raises ValueError saying what is wrong."""
    key, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"{text[:80]!r} is not key=value")
    if not 1 <= len(key) <= 63 or not set(key) <= _KEY_CHARACTERS:
        raise ValueError(f"{key[:80]!r} is not a label key: 1–63 characters of a-z, 0-9, '.', '/', '_', '-'")
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"the value of label {key!r} is longer than {MAX_VALUE_LENGTH} characters")
    return key, value


def label_pairs(labels: Mapping[str, str]) -> list[str]:
    """The labels as `key=value` strings, sorted by key."""
    return [f"{key}={labels[key]}" for key in sorted(labels)]


def labels_from_pairs(pairs: Iterable[str]) -> dict[str, str]:
    return dict(pair.partition("=")[::2] for pair in pairs)


def carries(labels: Mapping[str, str], selectors: Iterable[Selector]) -> bool:
    """True when every selector's key has that value."""
    return all(labels.get(key) == value for key, value in selectors)
