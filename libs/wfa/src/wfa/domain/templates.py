"""Templates: `{{ EXPR }}` in an action's strings and its `when`, EXPR a JMESPath expression over the execution's
data (contract v2, "Data between actions"; the user's page is docs/templates.md).

JMESPath selects data and cannot run code, which is why it was chosen over Jinja2 and the like (each of those has had
sandbox escapes). This module owns the language once: how a string splits into text and templates, the checks made
when a definition is submitted (`check_expression`, `check_text`), and the bounded evaluation at run time (`Renderer`,
`evaluate`). `{{ secrets.NAME }}` is part of the same syntax: a string is rendered in one pass, secrets and data
alike, so text that comes out of a template (a trigger's input, an action's output, a secret's value) is never
rendered again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jmespath import functions as jmespath_functions
from jmespath.exceptions import JMESPathError, ParseError
from jmespath.parser import Parser
from jmespath.visitor import Options, TreeInterpreter
from pydantic import JsonValue

from wfa.domain.errors import ActionFailed
from wfa.domain.secrets import NAME_PATTERN

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

TemplateContext = dict[str, JsonValue]
"""What an expression sees: `input`, `actions`, `execution`, `workflow`, and `error` in a failure handler."""

MAX_EXPRESSION_LENGTH = 1000
"""Characters in one expression (a `when`, or what stands between `{{` and `}}`)."""
MAX_NESTING = 40
"""Levels of the parsed expression's tree: deeper ones are refused when submitted, before they can exhaust the
interpreter's stack."""
EVALUATION_BUDGET = 300_000
"""Steps allowed for rendering one action (or evaluating one `when`): a step is one node of the expression
evaluated, one element or list item copied or walked by a projection, a function, a comparison or the rendering, and
16 characters of a string so walked. Ordinary templates take tens of steps; the budget stops a hostile one
(`[@,@]` nested over and over, a huge output sorted or compared) after a fraction of a second."""
MAX_RENDERED_BYTES = 1024 * 1024
"""What the templates of one action may produce in all (UTF-8 bytes of inserted text and inserted JSON values)."""

ROOT_NAMES = ("input", "actions", "execution", "workflow")
HANDLER_ROOT_NAMES = (*ROOT_NAMES, "error")
ACTION_FIELDS = ("output", "status")

_SECRET = re.compile(r"\s*secrets\.(" + NAME_PATTERN + r")\s*")
_QUOTES = {"'": "'", '"': '"', "`": "`"}
_SHOWN_CHARS = 300
_parser = Parser()


class TemplateError(ActionFailed):
    """An expression failed at run time. Not retryable: the same data would fail the same way. The message names
    the expression, never a secret."""

    def __init__(self, expression: str, why: str) -> None:
        shown = why if len(why) <= _SHOWN_CHARS else why[:_SHOWN_CHARS] + "..."
        super().__init__(f"template {{{{ {expression} }}}}: {shown}", kind="template_error", retryable=False)
        self.expression = expression


# --- syntax ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One `{{ ... }}` of a string: a data expression, or a secret reference when `secret` is set."""

    expression: str
    secret: str | None = None


Piece = str | Template


def split(text: str) -> list[Piece]:
    """`text` as literal text and templates, in order. A `}}` inside the expression's own braces or quotes does not
    end it (`{{ {a: b} }}`, `{{ '}}' }}`); a `{{` never closed stays text (it is refused when submitted)."""
    pieces: list[Piece] = []
    at = 0
    while (start := text.find("{{", at)) != -1:
        end = _closing(text, start + 2)
        if end is None:
            break
        if start > at:
            pieces.append(text[at:start])
        inner = text[start + 2 : end]
        secret = _SECRET.fullmatch(inner)
        pieces.append(Template(inner.strip(), secret.group(1) if secret else None))
        at = end + 2
    if at < len(text):
        pieces.append(text[at:])
    return pieces


def _closing(text: str, at: int) -> int | None:
    """Where the `}}` closing a template opened just before `at` starts; None when it is never closed."""
    depth = 0
    quote: str | None = None
    i = at
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in _QUOTES:
            quote = _QUOTES[char]
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth = max(0, depth - 1)
        i += 1
    return None


def secret_names(text: str) -> Iterator[str]:
    """The secrets `text` refers to, in order."""
    for piece in split(text):
        if isinstance(piece, Template) and piece.secret is not None:
            yield piece.secret


def refers_to_secrets(text: str) -> bool:
    return "{{" in text and next(secret_names(text), None) is not None


def templated_origin(url: str) -> bool:
    """Whether a data template stands in the host or port of `url` (before its path): then the data, not the
    definition, names the origin. The scheme is always written out (a definition's url starts with http(s)://)."""
    _, _, rest = url.partition("://")
    for piece in split(rest):
        if isinstance(piece, str):
            if re.search(r"[/?#]", piece):
                return False
        elif piece.secret is None:
            return True
    return False


# --- checks when a definition is submitted ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What an expression at some place of a definition may refer to."""

    before: Collection[str]
    """The actions that run before it: the ones it may name."""
    every: Collection[str]
    """Every action name of the workflow, to tell a forward reference from a name that does not exist."""
    handler: bool = False
    """A `compensate` or `onFailure` action: `error` is in its context."""
    itself: str | None = None


def check_text(text: str, scope: Scope) -> list[str]:
    """What is wrong with the templates of `text` (empty when nothing is)."""
    problems: list[str] = []
    at = 0
    while (start := text.find("{{", at)) != -1:
        end = _closing(text, start + 2)
        if end is None:
            shown = text[start : start + 60]
            problems.append(
                f"{shown!r} opens a template that is never closed with '}}}}' (for literal braces write "
                "{{ '{{' }})"
            )
            break
        inner = text[start + 2 : end]
        if _SECRET.fullmatch(inner) is None:
            shown = inner.strip() if len(inner.strip()) <= 80 else inner.strip()[:80] + "..."
            problems.extend(f"{{{{ {shown} }}}}: {problem}" for problem in check_expression(inner.strip(), scope))
        at = end + 2
    return problems


def check_expression(expression: str, scope: Scope) -> list[str]:
    """What is wrong with one expression: its length, syntax and nesting, and the names it reads from the context."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        return [f"an expression is at most {MAX_EXPRESSION_LENGTH} characters"]
    try:
        tree = _parse(expression)
    except _Unparsable as exc:
        return [str(exc)]
    problems: list[str] = []
    for path in _root_paths(tree):
        problems.extend(_check_path(path, scope))
    return list(dict.fromkeys(problems))


class _Unparsable(Exception):
    pass


def _parse(expression: str) -> dict[str, Any]:
    if not expression.strip():
        raise _Unparsable("an empty template: write an expression between the braces, such as input.name")
    try:
        tree: dict[str, Any] = dict(_parser.parse(expression).parsed)
    except ParseError as exc:
        hint = " (a name holding '-' is quoted: actions.\"fetch-token\".output)" if exc.token_value == "-" else ""
        raise _Unparsable(
            f"invalid JMESPath at column {exc.lex_position}: {exc.msg} (token {exc.token_value!r}){hint}"
        ) from None
    except JMESPathError as exc:
        raise _Unparsable(f"invalid JMESPath: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise _Unparsable(f"invalid JMESPath: nested more than {MAX_NESTING} levels") from None
    if _depth(tree) > MAX_NESTING:
        raise _Unparsable(f"the expression nests more than {MAX_NESTING} levels")
    return tree


def _depth(tree: dict[str, Any]) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.get("children", ()) if isinstance(child, dict))
    return deepest


# Which children of a node are evaluated against the same value as the node itself; the others (the right of a
# subexpression, a projection or a pipe, a filter's condition, an `&expr`) see something derived from it.
_SAME_VALUE_CHILDREN: dict[str, slice] = {
    "or_expression": slice(None),
    "and_expression": slice(None),
    "not_expression": slice(None),
    "comparator": slice(None),
    "function_expression": slice(None),
    "multi_select_list": slice(None),
    "multi_select_dict": slice(None),
    "key_val_pair": slice(None),
    "subexpression": slice(0, 1),
    "index_expression": slice(0, 1),
    "projection": slice(0, 1),
    "value_projection": slice(0, 1),
    "filter_projection": slice(0, 1),
    "flatten": slice(0, 1),
    "pipe": slice(0, 1),
}


def _root_paths(tree: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """For each field read from the context itself, the names of the fields chained after it (`actions.x.output`
    gives ("actions", "x", "output"))."""
    stack = [tree]
    while stack:
        node = stack.pop()
        kind = node["type"]
        if kind == "field":
            yield (node["value"],)
        elif kind == "subexpression" and node["children"][0]["type"] == "field":
            yield tuple(_leading_fields(node["children"]))
        else:
            stack.extend(node["children"][_SAME_VALUE_CHILDREN.get(kind, slice(0, 0))])


def _leading_fields(chain: list[dict[str, Any]]) -> Iterator[str]:
    for node in chain:
        indexed = node["type"] == "index_expression"
        if indexed:
            node = node["children"][0]
        if node["type"] != "field":
            return
        yield node["value"]
        if indexed:
            return


def _check_path(path: tuple[str, ...], scope: Scope) -> Iterator[str]:
    root = path[0]
    if root == "secrets":
        yield (
            "secrets can only be used as {{ secrets.NAME }}, alone between its braces: a secret is never data that "
            "an expression can read, list or combine"
        )
        return
    if root == "error" and not scope.handler:
        yield "'error' is only in the context of a failure handler (a compensate or onFailure action)"
        return
    if root not in (HANDLER_ROOT_NAMES if scope.handler else ROOT_NAMES):
        known = ", ".join(HANDLER_ROOT_NAMES if scope.handler else ROOT_NAMES)
        yield f"unknown name {root!r}: an expression starts from one of {known}"
        return
    if root != "actions" or len(path) < 2:
        return
    name = path[1]
    if name == scope.itself:
        yield f"action {name!r} refers to itself: an action sees only the actions that ran before it"
    elif name not in scope.every:
        yield f"there is no action named {name!r} (a name holding '-' is quoted: actions.\"{name}\".output)"
    elif name not in scope.before:
        yield f"action {name!r} does not run before this one: an action sees only the actions that ran before it"
    elif len(path) > 2 and path[2] not in ACTION_FIELDS:
        yield f"actions.{name} has only {' and '.join(ACTION_FIELDS)}, not {path[2]!r}"


# --- evaluation at run time ------------------------------------------------------------------------------------------


class _OverBudget(Exception):
    pass


class _TruncatedReference(Exception):
    pass


class _Truncated(dict[str, Any]):
    """An output recorded with `"truncated": true`: reading into it fails (contract v2), so it is marked in the
    context rather than cut silently."""


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise _OverBudget

    def walk(self, value: Any) -> None:
        """Spend what walking `value` whole costs (a comparison, a function, a serialisation will), stopping as
        soon as the budget is gone: values built of shared parts (`[@,@]` over and over) are far larger than the
        steps that built them."""
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, _Truncated):
                raise _TruncatedReference
            if isinstance(item, str):
                self.spend(1 + len(item) // 16)
            elif isinstance(item, dict):
                self.spend(1 + len(item))
                stack.extend(item.values())
            elif isinstance(item, list):
                self.spend(1 + len(item))
                stack.extend(item)
            else:
                self.spend(1)


class _Functions(jmespath_functions.Functions):
    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        self._budget = budget

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        resolved_args = list(resolved_args)
        for argument in resolved_args:
            self._budget.walk(argument)
        result = super().call_function(function_name, resolved_args)
        self._budget.walk(result)
        return result


class _Interpreter(TreeInterpreter):
    """JMESPath's own interpreter, every step counted against a budget, and a truncated output unreadable."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__(Options(custom_functions=_Functions(budget)))
        self._budget = budget

    def visit(self, node: _TreeNode, *args: Any, **kwargs: Any) -> Any:
        self._budget.spend(1)
        return super().visit(node, *args, **kwargs)

    def visit_field(self, node: _TreeNode, value: Any) -> Any:
        if isinstance(value, _Truncated):
            raise _TruncatedReference
        return super().visit_field(node, value)

    def visit_value_projection(self, node: _TreeNode, value: Any) -> Any:
        if isinstance(value, _Truncated):
            raise _TruncatedReference
        return self._counted(super().visit_value_projection(node, value))

    def visit_projection(self, node: _TreeNode, value: Any) -> Any:
        return self._counted(super().visit_projection(node, value))

    def visit_filter_projection(self, node: _TreeNode, value: Any) -> Any:
        return self._counted(super().visit_filter_projection(node, value))

    def visit_flatten(self, node: _TreeNode, value: Any) -> Any:
        return self._counted(super().visit_flatten(node, value))

    def visit_slice(self, node: _TreeNode, value: Any) -> Any:
        return self._counted(super().visit_slice(node, value))

    def visit_comparator(self, node: _TreeNode, value: Any) -> Any:
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        # Comparing walks both sides as deep as they go.
        self._budget.walk(left)
        self._budget.walk(right)
        literals: list[_TreeNode] = [
            {"type": "literal", "value": left, "children": []},
            {"type": "literal", "value": right, "children": []},
        ]
        return super().visit_comparator({"type": node["type"], "value": node["value"], "children": literals}, value)

    def _counted(self, result: Any) -> Any:
        if isinstance(result, list):
            self._budget.spend(len(result))
        return result


def _prepared(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context with every truncated output marked (a shallow copy: nothing of the execution is changed)."""
    actions = context.get("actions")
    if not isinstance(actions, dict):
        return dict(context)
    marked: dict[str, Any] = {}
    for name, entry in actions.items():
        output = entry.get("output") if isinstance(entry, dict) else None
        if isinstance(output, dict) and output.get("truncated") is True:
            entry = {**entry, "output": _Truncated(output)}
        marked[name] = entry
    return {**context, "actions": marked}


class Renderer:
    """Renders the templates of one action against `context`, with `secrets` (name -> value) for its secret
    references. Every template of the action shares one evaluation budget and one rendered-size cap."""

    def __init__(
        self,
        context: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        *,
        budget: int = EVALUATION_BUDGET,
        max_bytes: int = MAX_RENDERED_BYTES,
    ) -> None:
        self._context = _prepared(context)
        self._secrets = secrets or {}
        self._budget = _Budget(budget)
        self._bytes_left = max_bytes
        self._max_bytes = max_bytes

    def evaluate(self, expression: str) -> Any:
        """The value of `expression`, for a template or a `when`. Raises TemplateError."""
        try:
            tree: Any = _parse(expression)
            return _Interpreter(self._budget).visit(tree, self._context)
        except _Unparsable as exc:
            raise TemplateError(expression, str(exc)) from None
        except _OverBudget:
            raise TemplateError(expression, _over_budget()) from None
        except _TruncatedReference:
            raise TemplateError(expression, _truncated()) from None
        except RecursionError:
            raise TemplateError(expression, "the data is nested too deep to evaluate") from None
        except JMESPathError as exc:
            raise TemplateError(expression, str(exc).replace("\n", " ")) from None
        except (TypeError, ValueError, OverflowError) as exc:  # a function handed data it cannot take
            raise TemplateError(expression, f"cannot be evaluated: {exc}") from None

    def text(self, text: str) -> str:
        """`text` with each template replaced by its value as text: strings as they are, null as nothing, any other
        value as compact JSON."""
        if "{{" not in text:
            return text
        parts: list[str] = []
        for piece in split(text):
            if isinstance(piece, str):
                parts.append(piece)
            elif piece.secret is not None:
                parts.append(self._secret(piece.secret))
            else:
                parts.append(self._as_text(piece.expression, self.evaluate(piece.expression)))
        return "".join(parts)

    def value(self, text: str) -> JsonValue:
        """A string of a body: exactly one data template takes its value's JSON type; any other string is text."""
        if "{{" not in text:
            return text
        pieces = split(text)
        if len(pieces) == 1 and isinstance(pieces[0], Template) and pieces[0].secret is None:
            expression = pieces[0].expression
            value = self.evaluate(expression)
            self._charge(expression, value)
            self._spend_bytes(expression, len(self._json(expression, value).encode()))
            return value  # type: ignore[no-any-return]
        return self.text(text)

    def body(self, body: JsonValue) -> JsonValue:
        """`body` with `value` applied to every string in it (keys are left as written)."""
        if isinstance(body, str):
            return self.value(body)
        if isinstance(body, dict):
            return {key: self.body(item) for key, item in body.items()}
        if isinstance(body, list):
            return [self.body(item) for item in body]
        return body

    def _secret(self, name: str) -> str:
        value = self._secrets.get(name)
        if value is None:
            # The caller looks every secret up before rendering; reaching this is a bug, named without a value.
            raise TemplateError(f"secrets.{name}", "no value was provided for this secret")
        self._spend_bytes(f"secrets.{name}", len(value.encode()))
        return value

    def _as_text(self, expression: str, value: Any) -> str:
        self._charge(expression, value)
        text = "" if value is None else value if isinstance(value, str) else self._json(expression, value)
        self._spend_bytes(expression, len(text.encode()))
        return text

    def _charge(self, expression: str, value: Any) -> None:
        try:
            self._budget.walk(value)
        except _OverBudget:
            raise TemplateError(expression, _over_budget()) from None
        except _TruncatedReference:
            raise TemplateError(expression, _truncated()) from None

    def _json(self, expression: str, value: Any) -> str:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TemplateError(expression, f"the value is not JSON: {exc}") from None

    def _spend_bytes(self, expression: str, size: int) -> None:
        self._bytes_left -= size
        if self._bytes_left < 0:
            raise TemplateError(
                expression, f"the templates of this action produce more than {self._max_bytes} bytes in all"
            )


def _over_budget() -> str:
    return f"takes more than {EVALUATION_BUDGET} evaluation steps (see docs/templates.md, limits)"


def _truncated() -> str:
    return "reads an action output that was truncated (larger than WFA_ACTION_OUTPUT_MAX_BYTES)"


def evaluate(expression: str, context: TemplateContext) -> Any:
    """The value of one expression (a `when`), bounded like any template. Raises TemplateError."""
    return Renderer(context).evaluate(expression)


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty strings, lists and objects are false; everything else is true
    (0 included)."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
