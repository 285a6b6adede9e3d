"""The template language (wfa.domain.templates): how strings split, what is checked when a definition is submitted,
and how templates render, bounded, at run time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from wfa.domain.templates import (
    EVALUATION_BUDGET,
    Renderer,
    Scope,
    Template,
    TemplateError,
    check_expression,
    check_text,
    evaluate,
    split,
    truthy,
)
from wfa.domain.workflow import WorkflowDefinition

CONTEXT: dict[str, Any] = {
    "input": {"release": "42", "count": 3, "tags": ["a", "b"], "nothing": None, "sneaky": "{{ secrets.DB_PASSWORD }}"},
    "actions": {
        "fetch-token": {"output": {"status": 200, "body": {"token": "abc", "n": 1.5}}, "status": "succeeded"},
        "big": {"output": {"status": 200, "body": "xxxx", "truncated": True}, "status": "succeeded"},
    },
    "execution": {"id": "e1", "attempt": 1, "reason": "manual", "scheduledFor": None},
    "workflow": {"id": "w", "version": 2},
}

SCOPE = Scope(before=["fetch-token", "big"], every=["fetch-token", "big", "me", "later"], itself="me")


# --- syntax -----------------------------------------------------------------------------------------------------------


def test_a_string_splits_into_text_data_templates_and_secret_references() -> None:
    assert split("a {{ input.x }} b {{secrets.TOKEN}}") == [
        "a ",
        Template("input.x"),
        " b ",
        Template("secrets.TOKEN", secret="TOKEN"),
    ]


def test_braces_and_quotes_inside_an_expression_do_not_end_it() -> None:
    assert split("{{ {a: {b: input}} }}!") == [Template("{a: {b: input}}"), "!"]
    assert split("{{ '}}' }}") == [Template("'}}'")]


def test_an_unclosed_template_is_text_and_refused_when_submitted() -> None:
    assert split("a {{ input.x") == ["a {{ input.x"]
    assert "never closed" in check_text("a {{ input.x", SCOPE)[0]


# --- checks when submitted --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("input.", "invalid JMESPath"),
        ("a b", "invalid JMESPath"),
        ("", "empty"),
        ("nope.x", "unknown name 'nope'"),
        ("[input, nope]", "unknown name 'nope'"),
        ("length(nope)", "unknown name 'nope'"),
        ("input || nope", "unknown name 'nope'"),
        ("error.message", "only in the context of a failure handler"),
        ("secrets.TOKEN", "secrets can only be used as {{ secrets.NAME }}"),
        ("keys(secrets)", "secrets can only be used"),
        ("actions.later.output", "does not run before this one"),
        ("actions.me.output", "refers to itself"),
        ("actions.ghost.output", "no action named 'ghost'"),
        ('actions."fetch-token".outptu', "has only output and status"),
        ("x" * 1001, "at most 1000 characters"),
        ("[" * 50 + "input" + "]" * 50, "nests more than"),
    ],
)
def test_an_expression_is_refused_with_the_reason(expression: str, complaint: str) -> None:
    problems = check_expression(expression, SCOPE)

    assert problems and complaint in problems[0]


@pytest.mark.parametrize(
    "expression",
    [
        'actions."fetch-token".output.body.token',
        "input.tags[*].name",  # fields of projected elements are not names of the context
        "input.tags[?name == 'x'] | [0].value",
        "actions.*.status",
        "map(&foo, input.tags)",
        "{r: input.release, w: workflow.id, e: execution.attempt}",
        '`{"literal": 1}`',
        "@",
    ],
)
def test_an_expression_over_known_names_is_accepted(expression: str) -> None:
    assert check_expression(expression, SCOPE) == []


def test_a_failure_handler_sees_error_and_every_action() -> None:
    scope = Scope(before=["fetch-token", "later"], every=["fetch-token", "later"], handler=True)

    assert check_expression("[error.message, actions.later.status]", scope) == []


def definition(actions: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"workflowId": "w", "trigger": {"type": "manual"}, "actions": actions, **fields}


def locs(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        WorkflowDefinition.model_validate(body)
    return [error["loc"] for error in caught.value.errors()]


def test_each_problem_is_located_at_its_string() -> None:
    body = definition(
        [
            {"type": "log", "name": "first", "message": "{{ actions.second.output }}", "when": "nope"},
            {
                "type": "http-request",
                "name": "second",
                "url": "https://x.example/{{ input..x }}",
                "headers": {"Authorization": "Bearer {{ token }}"},
                "body": {"items": [1, "{{ actions.ghost.output }}"]},
                "compensate": {"type": "log", "message": "{{ error.message }} {{ missing }}"},
            },
        ],
        onFailure=[{"type": "log", "message": "{{ actions.first.status }} {{ nothing }}"}],
    )

    assert locs(body) == [
        ("actions", 0, "log", "when"),
        ("actions", 0, "log", "message"),
        ("actions", 1, "http-request", "url"),
        ("actions", 1, "http-request", "headers", "Authorization"),
        ("actions", 1, "http-request", "body", "items", 1),
        ("actions", 1, "http-request", "compensate", "log", "message"),
        ("onFailure", 0, "log", "message"),
    ]


def test_a_log_message_cannot_hold_a_secret() -> None:
    assert locs(definition([{"type": "log", "message": "{{ secrets.TOKEN }}"}])) == [("actions", 0, "log", "message")]


def test_an_action_sending_a_secret_cannot_take_its_host_from_data() -> None:
    body = definition(
        [
            {
                "type": "http-request",
                "url": "https://{{ input.host }}/x",
                "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"},
            }
        ]
    )

    assert locs(body) == [("actions", 0, "http-request", "url")]


def test_a_templated_path_may_go_with_a_secret() -> None:
    WorkflowDefinition.model_validate(
        definition(
            [
                {
                    "type": "http-request",
                    "url": "https://api.example.com/{{ input.path }}",
                    "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"},
                }
            ]
        )
    )


# --- rendering --------------------------------------------------------------------------------------------------------


def test_a_whole_template_in_a_body_keeps_its_json_type() -> None:
    renderer = Renderer(CONTEXT)

    body = renderer.body(
        {
            "count": "{{ input.count }}",
            "tags": "{{ input.tags }}",
            "token": '{{ actions."fetch-token".output.body }}',
            "none": "{{ input.nothing }}",
            "mixed": "release {{ input.release }} of {{ input.count }}",
            "list": ["{{ input.count }}", 7],
        }
    )

    assert body == {
        "count": 3,
        "tags": ["a", "b"],
        "token": {"token": "abc", "n": 1.5},
        "none": None,
        "mixed": "release 42 of 3",
        "list": [3, 7],
    }


def test_elsewhere_values_are_text_compact_json_and_null_as_nothing() -> None:
    text = Renderer(CONTEXT).text(
        "{{ input.release }}|{{ input.count }}|{{ input.tags }}|{{ input.nothing }}|{{ input.missing }}|"
        '{{ actions."fetch-token".output.body }}'
    )

    assert text == '42|3|["a","b"]|||{"token":"abc","n":1.5}'


def test_inserted_text_is_not_rendered_again() -> None:
    assert Renderer(CONTEXT).text("{{ '{{ input.release }}' }}") == "{{ input.release }}"


def test_a_secret_reference_coming_from_the_data_is_never_filled() -> None:
    """A trigger input of "{{ secrets.DB_PASSWORD }}" inserted into a body stays that text: secrets and data are
    rendered in one pass, so the value of an expression is never searched for references."""
    renderer = Renderer(CONTEXT, secrets={"DB_PASSWORD": "hunter2"})

    body = renderer.body(
        {"whole": "{{ input.sneaky }}", "part": "x {{ input.sneaky }}", "ref": "{{ secrets.DB_PASSWORD }}"}
    )

    assert body == {"whole": "{{ secrets.DB_PASSWORD }}", "part": "x {{ secrets.DB_PASSWORD }}", "ref": "hunter2"}


def test_a_wrong_type_fails_naming_the_expression() -> None:
    with pytest.raises(TemplateError) as caught:
        Renderer(CONTEXT).text("{{ length(input.count) }}")

    assert caught.value.kind == "template_error" and not caught.value.retryable
    assert "length(input.count)" in str(caught.value)


def test_reading_into_a_truncated_output_fails() -> None:
    for template in (
        "{{ actions.big.output.body }}",
        "{{ actions.big.output }}",
        "{{ actions.*.output }}",
        "{{ values(actions)[*].output.body }}",
    ):
        with pytest.raises(TemplateError, match="truncated"):
            Renderer(CONTEXT).text(template)
    with pytest.raises(TemplateError, match="truncated"):
        Renderer(CONTEXT).body("{{ keys(actions.big.output) }}")


def test_the_status_of_an_action_with_a_truncated_output_can_be_read() -> None:
    assert Renderer(CONTEXT).text("{{ actions.big.status }}") == "succeeded"


def test_when_uses_jmespath_truthiness() -> None:
    assert truthy(evaluate("input.count", CONTEXT)) and truthy(0)
    assert not truthy(evaluate("input.nothing", CONTEXT)) and not truthy(evaluate("input.tags[5:]", CONTEXT))


# --- bounds -----------------------------------------------------------------------------------------------------------


def test_an_exponential_multiselect_is_stopped_quickly() -> None:
    expression = "input.tags[]" + ".[@,@,@,@,@,@,@,@][]" * 10
    started = time.monotonic()

    with pytest.raises(TemplateError, match=str(EVALUATION_BUDGET)):
        Renderer(CONTEXT).text("{{ " + expression + " }}")

    assert time.monotonic() - started < 2


def test_shared_parts_cannot_blow_up_a_serialisation() -> None:
    expression = "input" + " | [@,@]" * 35
    started = time.monotonic()

    for render in (Renderer(CONTEXT).text, Renderer(CONTEXT).body, Renderer(CONTEXT).text):
        with pytest.raises(TemplateError, match="evaluation steps"):
            render("{{ " + expression + " }}")
    with pytest.raises(TemplateError, match="evaluation steps"):
        Renderer(CONTEXT).text("{{ to_string(" + expression + ") }}")
    with pytest.raises(TemplateError, match="evaluation steps"):
        Renderer(CONTEXT).text("{{ (" + expression + ") == (" + expression.replace("input", "workflow") + ") }}")

    assert time.monotonic() - started < 2


def test_a_function_over_a_huge_list_is_bounded() -> None:
    context = {**CONTEXT, "input": {"many": list(range(2_000_000))}}
    started = time.monotonic()

    with pytest.raises(TemplateError, match="evaluation steps"):
        Renderer(context).text("{{ sort(input.many) }}")

    assert time.monotonic() - started < 2


def test_rendered_text_is_capped() -> None:
    context = {**CONTEXT, "input": {"s": "x" * 600_000}}

    with pytest.raises(TemplateError, match="bytes in all"):
        Renderer(context, budget=10**7).text("{{ input.s }}{{ input.s }}")


def test_deeply_nested_data_fails_the_template_not_the_caller() -> None:
    nested: Any = "leaf"
    for _ in range(5000):
        nested = [nested]
    context = {**CONTEXT, "input": {"deep": nested}}

    with pytest.raises(TemplateError):
        Renderer(context, budget=10**7).text("{{ input.deep == input.deep[0] }}")
