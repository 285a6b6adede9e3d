"""Secret templating: an http-request action with its `{{ secrets.NAME }}` references replaced by their values.

`resolve_secrets` is the one place a secret value enters an action, just before the request is sent. It works on
a copy: the stored plan keeps the references, and the caller gets the values it used back, to redact them from
whatever the action records (wfa.observability.redaction). The syntax is the domain's (wfa.domain.secrets), where
it is checked when a definition is submitted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from pydantic import JsonValue

from wfa.domain.errors import ActionFailed
from wfa.domain.secrets import REFERENCE, secret_names
from wfa.domain.workflow import HttpRequestAction

_UNSAFE_IN_HEADER = re.compile(r"[\r\n\x00]")


class SecretSource(Protocol):
    def get(self, name: str) -> str | None:
        """The value of the secret `name`; None when there is no such secret."""


class UnknownSecret(ActionFailed):
    """The action refers to secrets the runner does not have. Not retryable: the definition or the runner's
    configuration has to change first. The message names the secrets, never a value."""

    def __init__(self, names: list[str]) -> None:
        listed = ", ".join(repr(name) for name in names)
        super().__init__(
            f"secret{'s' if len(names) > 1 else ''} {listed} not defined: give the runner WFA_SECRET_<NAME> or a "
            "file <NAME> in WFA_SECRETS_DIR",
            kind="unknown_secret",
            retryable=False,
        )
        self.names = names


@dataclass(frozen=True)
class ResolvedAction:
    action: HttpRequestAction
    secret_values: tuple[str, ...]
    """The values substituted into `action`: what must not appear in its record, its errors or the logs."""
    secret_headers: frozenset[str] = frozenset()
    """The names (lower case) of the headers a secret went into: they may go only to the action's own origin."""
    secret_in_body: bool = False
    """Whether a secret went into the body: it too may go only to the action's own origin."""


def resolve_secrets(action: HttpRequestAction, source: SecretSource) -> ResolvedAction:
    """`action` with every secret reference in its URL, header values and body strings replaced.

    Raises UnknownSecret (listing every missing name), or ActionFailed when a value cannot go where it is
    referenced (a line break in a header value would split the request)."""
    names = list(dict.fromkeys(name for text in _texts(action) for name in secret_names(text)))
    if not names:
        return ResolvedAction(action, ())
    values = {name: source.get(name) for name in names}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise UnknownSecret(missing)
    known = {name: value for name, value in values.items() if value is not None}

    def fill(text: str) -> str:
        return REFERENCE.sub(lambda match: known[match.group(1)], text)

    headers = {}
    for header, value in action.headers.items():
        filled = fill(value)
        if filled != value and _UNSAFE_IN_HEADER.search(filled):
            used = ", ".join(repr(name) for name in secret_names(value))
            raise ActionFailed(
                f"header {header!r}: secret {used} holds a line break or NUL, which cannot go in a header",
                kind="invalid_secret",
                retryable=False,
            )
        headers[header] = filled
    resolved = action.model_copy(update={"url": fill(action.url), "headers": headers, "body": _map(action.body, fill)})
    return ResolvedAction(
        resolved,
        tuple(dict.fromkeys(known.values())),
        secret_headers=frozenset(name.lower() for name, value in action.headers.items() if _refers(value)),
        secret_in_body=any(_refers(text) for text in _body_texts(action.body)),
    )


def _refers(text: str) -> bool:
    return REFERENCE.search(text) is not None


def _texts(action: HttpRequestAction) -> Iterator[str]:
    yield action.url
    yield from action.headers.values()
    yield from _body_texts(action.body)


def _body_texts(body: JsonValue) -> Iterator[str]:
    stack: list[JsonValue] = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _map(value: JsonValue, fill: Callable[[str], str]) -> JsonValue:
    if isinstance(value, str):
        return fill(value)
    if isinstance(value, dict):
        return {key: _map(item, fill) for key, item in value.items()}
    if isinstance(value, list):
        return [_map(item, fill) for item in value]
    return value
