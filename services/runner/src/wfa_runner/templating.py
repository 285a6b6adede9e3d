"""Rendering an http-request action: its templates, `{{ EXPR }}` over the execution's data and `{{ secrets.NAME }}`,
replaced by their values (contract v2, "Data between actions"; the language is wfa.domain.templates).

`render_request` is the one place a secret value enters an action, just before the request is sent. Secrets and
data expressions are filled in one pass over each string of the definition, so nothing a template produced is
rendered again: a trigger input or an output holding "{{ secrets.X }}" is sent as that text, never as the secret.
It works on a copy: the stored plan keeps the references, and the caller gets the secret values it used back, to
redact them from whatever the action records (wfa.observability.redaction).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import JsonValue

from wfa.domain.errors import ActionFailed
from wfa.domain.templates import Renderer, TemplateContext, refers_to_secrets, secret_names, templated_origin
from wfa.domain.workflow import HttpRequestAction
from wfa.ports.secrets import SecretSource

_UNSAFE_IN_HEADER = re.compile(r"[\r\n\x00]")


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


def render_request(action: HttpRequestAction, context: TemplateContext, source: SecretSource) -> ResolvedAction:
    """`action` with every template of its URL, header values and body strings replaced, secrets and data alike.

    Raises UnknownSecret (listing every missing name) before anything is evaluated, TemplateError when an
    expression fails or exceeds its bounds, or ActionFailed when a value cannot go where it is referenced (a line
    break in a header value would split the request)."""
    names = list(dict.fromkeys(name for text in _texts(action) for name in secret_names(text)))
    values = {name: source.get(name) for name in names}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise UnknownSecret(missing)
    known = {name: value for name, value in values.items() if value is not None}
    if known and templated_origin(action.url):
        # Refused when submitted too; checked here again, as it decides where a secret goes.
        raise ActionFailed(
            "an action that sends a secret must name its host in the definition, not take it from a template",
            kind="template_error",
            retryable=False,
        )
    renderer = Renderer(context, known)
    url = renderer.text(action.url)
    headers = {}
    for header, value in action.headers.items():
        filled = renderer.text(value)
        if filled != value and _UNSAFE_IN_HEADER.search(filled):
            if refers_to_secrets(value):
                used = ", ".join(repr(name) for name in secret_names(value))
                raise ActionFailed(
                    f"header {header!r}: secret {used} holds a line break or NUL, which cannot go in a header",
                    kind="invalid_secret",
                    retryable=False,
                )
            raise ActionFailed(
                f"header {header!r}: a template's value holds a line break or NUL, which cannot go in a header",
                kind="template_error",
                retryable=False,
            )
        headers[header] = filled
    resolved = action.model_copy(update={"url": url, "headers": headers, "body": renderer.body(action.body)})
    return ResolvedAction(
        resolved,
        tuple(dict.fromkeys(known.values())),
        secret_headers=frozenset(name.lower() for name, value in action.headers.items() if refers_to_secrets(value)),
        secret_in_body=any(refers_to_secrets(text) for text in _body_texts(action.body)),
    )


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
