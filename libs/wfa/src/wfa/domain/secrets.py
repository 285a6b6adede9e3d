"""Secret references: `{{ secrets.NAME }}` in an http-request action's URL, header values or body strings.

A definition holds the reference, never the value: the runner substitutes the value when the action runs (see
wfa_runner.templating), so nothing stored in MongoDB or shown by the API contains it. This module owns the syntax;
a malformed reference is refused when the definition is submitted, rather than sent as literal text later.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
"""What an environment variable (WFA_SECRET_<NAME>) and a file name (WFA_SECRETS_DIR/<NAME>) can both be."""

REFERENCE = re.compile(r"\{\{\s*secrets\.(" + NAME_PATTERN + r")\s*\}\}")
# Anything that starts like a reference must be one: `{{ secret.x }}`, `{{ SECRETS.x }}` or `{{ secrets.x-y }}` is
# a mistake to report, not text to send. Other `{{ ... }}` (a template meant for the receiving side) is left alone.
_ATTEMPT = re.compile(r"\{\{\s*secrets?\b", re.IGNORECASE)
_SHOWN_CHARS = 60


def sole_secret_name(text: str) -> str:
    """The name `text` refers to when it is exactly one reference (`{{ secrets.NAME }}`, as a webhook's `secret` must
    be); ValueError otherwise, without repeating `text` (a value given by mistake is not echoed back)."""
    match = REFERENCE.fullmatch(text)
    if match is None:
        raise ValueError(
            "write a secret reference, {{ secrets.NAME }}, and nothing else: the value itself is given to the services "
            "as WFA_SECRET_NAME or a file NAME in WFA_SECRETS_DIR, never in a definition"
        )
    return match.group(1)


def _check_sole_reference(text: str) -> str:
    sole_secret_name(text)
    return text


SecretReference = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_sole_reference)]
"""A string that is exactly one `{{ secrets.NAME }}`."""


def check_secret_references(text: str) -> str:
    """`text` unchanged if every secret reference in it is well formed; ValueError naming the first bad one."""
    for attempt in _ATTEMPT.finditer(text):
        if REFERENCE.match(text, attempt.start()) is None:
            end = text.find("}}", attempt.start())
            shown = text[attempt.start() : end + 2 if end != -1 else None][:_SHOWN_CHARS]
            raise ValueError(
                f"{shown!r} is not a valid secret reference: write {{{{ secrets.NAME }}}}, NAME made of letters, "
                "digits and underscores, not starting with a digit"
            )
    return text
