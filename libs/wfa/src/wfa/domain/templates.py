"""Templates: `{{ EXPR }}` in an action's strings and its `when`, EXPR a JMESPath expression over the execution's
data (contract v2, "Data between actions").

JMESPath selects data and cannot run code, which is why it was chosen over Jinja2 and the like (each of those has had
sandbox escapes).
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import JsonValue

from wfa.domain.errors import ActionFailed

TemplateContext = dict[str, JsonValue]
"""What an expression sees: `input`, `actions`, `execution`, `workflow`, and `error` in a failure handler."""


class TemplateError(ActionFailed):
    """An expression failed at run time. Not retryable: the same data would fail the same way. The message names
    the expression, never a secret."""

    def __init__(self, expression: str, why: str) -> None:
        super().__init__(f"template {{{{ {expression} }}}}: {why}", kind="template_error", retryable=False)
        self.expression = expression


def evaluate(expression: str, context: TemplateContext) -> Any:
    try:
        return jmespath.search(expression, context)
    except (JMESPathError, RecursionError) as exc:
        raise TemplateError(expression, str(exc)) from None


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty strings, lists and objects are false; everything else is true
    (0 included)."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
