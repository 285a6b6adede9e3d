"""Secret references in http-request actions: `{{ secrets.NAME }}`, checked when the definition is submitted."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wfa.domain.secrets import check_secret_references
from wfa.domain.templates import secret_names
from wfa.domain.workflow import HttpRequestAction


def http_action(**fields: Any) -> HttpRequestAction:
    return HttpRequestAction.model_validate({"type": "http-request", "url": "https://api.example.com/", **fields})


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Bearer {{ secrets.API_TOKEN }}", ["API_TOKEN"]),
        ("{{secrets.a}}:{{  secrets._b9  }}", ["a", "_b9"]),
        ("no reference", []),
        ("{{ input.x }} and {{ other }}", []),  # not ours: meant for the receiving side, sent as written
    ],
)
def test_well_formed_references_are_found(text: str, names: list[str]) -> None:
    assert check_secret_references(text) == text
    assert list(secret_names(text)) == names


@pytest.mark.parametrize(
    "text",
    [
        "{{ secrets.x-y }}",
        "{{ secrets.1TOKEN }}",
        "{{ secrets. }}",
        "{{ secrets.TOKEN }",
        "{{ secrets.TOKEN",
        "{{ secret.TOKEN }}",
        "{{ SECRETS.TOKEN }}",
        "{{ secrets }}",
        "ok {{ secrets.A }} then {{ secrets.b.c }}",
    ],
)
def test_malformed_references_are_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a valid secret reference: write \{\{ secrets\.NAME \}\}"):
        check_secret_references(text)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"url": "https://api.example.com/?key={{ secrets.x-y }}"}, ("url",)),
        ({"headers": {"Authorization": "Bearer {{ secrets.x-y }}"}}, ("headers",)),
        ({"body": {"nested": [{"key": "{{ secrets.x-y }}"}]}}, ("body",)),
    ],
)
def test_an_action_with_a_malformed_reference_is_invalid(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as invalid:
        http_action(**fields)

    (error,) = invalid.value.errors()
    assert error["loc"] == loc
    assert "'{{ secrets.x-y }}' is not a valid secret reference" in error["msg"]


def test_an_action_keeps_its_references_as_written() -> None:
    action = http_action(
        url="https://api.example.com/?key={{ secrets.KEY }}",
        headers={"Authorization": "Bearer {{ secrets.TOKEN }}"},
        body={"password": "{{ secrets.PASSWORD }}"},
    )

    assert action.url.endswith("{{ secrets.KEY }}")
    assert action.headers["Authorization"] == "Bearer {{ secrets.TOKEN }}"
    assert action.body == {"password": "{{ secrets.PASSWORD }}"}
