"""Request bodies are JSON, parsed strictly: what parses here can be stored and served back without surprise.

The standard parser accepts more than the stored documents and the response encoder can take, so a body that
passed it could still fail later with a 5xx. This parser refuses those cases up front, as 4xx:
- NaN and ±Infinity (not JSON; the response encoder refuses them) and floats that overflow to infinity;
- integers outside the signed 64-bit range (BSON cannot store them);
- nesting deeper than MAX_DEPTH (MongoDB refuses documents nested beyond 100 levels, and the stored workflow
  wraps the body in a few levels of its own), without ever hitting Python's recursion limit;
- strings holding lone surrogates (not encodable as UTF-8) and object keys holding NUL (BSON keys are C strings).
A body sent with a media type other than JSON is refused with 415 rather than read as something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from wfa_workflows.api.problems import HttpProblem

MAX_DEPTH = 32
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(ValueError):
    pass


def parse_json(raw: bytes) -> Any:
    """The value of a JSON document under the rules above. Raises HttpProblem (422) otherwise."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_int=_int64, parse_float=_finite_float)
    except RecursionError:
        raise _malformed(f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise _malformed(f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except _Refused as exc:
        raise _malformed(str(exc)) from None
    except ValueError as exc:  # bytes that are not UTF-8/16/32 text
        raise _malformed(f"the body is not valid JSON: {exc}") from None
    _check_structure(value)
    return value


def json_object_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """A body that must be empty (`{}`) or a JSON object, read by the route itself (a webhook's, which verifies the
    raw bytes before anything parses them). Raises HttpProblem: 415 for another media type, 422 otherwise."""
    if not raw:
        return {}
    if not _is_json(content_type):
        raise _unsupported_media_type()
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise _malformed(f"the body must be a JSON object (it becomes the execution's input), not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _int64(text: str) -> int:
    # The length test first: int() of a very long digit string is slow, and Python refuses > 4300 digits anyway.
    if len(text.lstrip("-")) > 19 or not _INT64_MIN <= (number := int(text)) <= _INT64_MAX:
        raise _Refused(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is outside the 64-bit range")
    return number


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:40]} is too large")
    return number


def _check_structure(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _malformed(f"the JSON nests deeper than {MAX_DEPTH} levels")
            children: Iterable[Any] = item
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                    if "\x00" in key:
                        raise _malformed("an object key holds a NUL character")
                children = item.values()
            stack.extend((child, depth + 1) for child in children if isinstance(child, str | dict | list))


def _check_text(text: str) -> None:
    if _SURROGATE.search(text):
        raise _malformed("a string holds an unpaired UTF-16 surrogate (not encodable as UTF-8)")


def _malformed(message: str) -> HttpProblem:
    return HttpProblem(
        422, message, kind="validation-failed", errors=[{"loc": ["body"], "msg": message, "type": "json_invalid"}]
    )


def _unsupported_media_type() -> HttpProblem:
    return HttpProblem(415, "send the body as JSON, with Content-Type: application/json", kind="unsupported-media-type")


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        return parse_json(await self.body())


class JsonRoute(APIRoute):
    """The route class of every API route: bodies are parsed by `parse_json`, and only sent as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            strict_request = _StrictJsonRequest(request.scope, request.receive)
            if await strict_request.body() and not _is_json(strict_request.headers.get("content-type")):
                raise _unsupported_media_type()
            return await handler(strict_request)

        return strict
