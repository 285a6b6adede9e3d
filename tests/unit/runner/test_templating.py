"""Rendering http-request actions (data templates and secrets in one pass), and where the runner finds secret values."""

from __future__ import annotations

from typing import Any

import pytest

from wfa.domain.errors import ActionFailed
from wfa.domain.workflow import HttpRequestAction
from wfa_runner.templating import UnknownSecret, render_request

SECRETS = {"TOKEN": "t0ken-value", "KEY": "k3y-value", "PASSWORD": "pa55-value"}


class Secrets:
    """A secret source over a dict, counting lookups."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        return self.values.get(name)


def http_action(**fields: Any) -> HttpRequestAction:
    return HttpRequestAction.model_validate(
        {"type": "http-request", "name": "call", "url": "https://api.example.com/hook", **fields}
    )


def test_references_in_url_headers_and_body_are_filled_in() -> None:
    action = http_action(
        url="https://api.example.com/hook?key={{ secrets.KEY }}",
        headers={"Authorization": "Bearer {{secrets.TOKEN}}", "X-Plain": "as written"},
        body={"login": "me", "password": "{{ secrets.PASSWORD }}", "list": ["{{ secrets.KEY }}", 1, None]},
    )

    resolved = render_request(action, {}, Secrets(SECRETS))

    assert resolved.action.url == "https://api.example.com/hook?key=k3y-value"
    assert resolved.action.headers == {"Authorization": "Bearer t0ken-value", "X-Plain": "as written"}
    assert resolved.action.body == {"login": "me", "password": "pa55-value", "list": ["k3y-value", 1, None]}
    assert sorted(resolved.secret_values) == sorted(SECRETS.values())


def test_the_action_itself_keeps_its_references() -> None:
    action = http_action(headers={"Authorization": "Bearer {{ secrets.TOKEN }}"})

    render_request(action, {}, Secrets(SECRETS))

    assert action.headers["Authorization"] == "Bearer {{ secrets.TOKEN }}"


def test_an_action_without_templates_is_returned_as_it_is_and_no_secret_is_read() -> None:
    action = http_action(headers={"X-Plain": "as written"}, body={"text": "no braces"})
    source = Secrets(SECRETS)

    resolved = render_request(action, {}, source)

    assert (resolved.action, resolved.secret_values, source.asked) == (action, (), [])


CONTEXT: dict[str, Any] = {
    "input": {"user": "ann", "sneaky": "{{ secrets.PASSWORD }}", "crlf": "a\r\nX-Injected: yes", "n": 3},
    "actions": {"fetch-token": {"output": {"status": 200, "body": {"token": "tk"}}, "status": "succeeded"}},
}


def test_data_and_secrets_are_rendered_together() -> None:
    action = http_action(
        url="https://api.example.com/users/{{ input.user }}?key={{ secrets.KEY }}",
        headers={"Authorization": 'Bearer {{ actions."fetch-token".output.body.token }}', "X-Key": "{{ secrets.KEY }}"},
        body={"n": "{{ input.n }}", "who": "{{ input.user }}", "password": "{{ secrets.PASSWORD }}"},
    )

    resolved = render_request(action, CONTEXT, Secrets(SECRETS))

    assert resolved.action.url == "https://api.example.com/users/ann?key=k3y-value"
    assert resolved.action.headers == {"Authorization": "Bearer tk", "X-Key": "k3y-value"}
    assert resolved.action.body == {"n": 3, "who": "ann", "password": "pa55-value"}
    # Only what the definition's own references put there is confined to the origin.
    assert (resolved.secret_headers, resolved.secret_in_body) == (frozenset({"x-key"}), True)


def test_a_trigger_input_naming_a_secret_does_not_get_its_value() -> None:
    """The exfiltration case: an input "{{ secrets.PASSWORD }}" inserted into a body is sent as that text."""
    source = Secrets(SECRETS)
    action = http_action(body={"note": "{{ input.sneaky }}", "text": "said: {{ input.sneaky }}"})

    resolved = render_request(action, CONTEXT, source)

    assert resolved.action.body == {"note": "{{ secrets.PASSWORD }}", "text": "said: {{ secrets.PASSWORD }}"}
    assert "pa55-value" not in repr(resolved) and source.asked == []


def test_data_holding_a_line_break_cannot_go_in_a_header() -> None:
    with pytest.raises(ActionFailed) as caught:
        render_request(http_action(headers={"X-User": "{{ input.crlf }}"}), CONTEXT, Secrets(SECRETS))

    assert (caught.value.kind, caught.value.retryable) == ("template_error", False)


def test_a_failing_template_fails_the_action_naming_the_expression() -> None:
    with pytest.raises(ActionFailed) as caught:
        render_request(http_action(body="{{ length(input.n) }}"), CONTEXT, Secrets(SECRETS))

    assert (caught.value.kind, caught.value.retryable) == ("template_error", False)
    assert "length(input.n)" in str(caught.value)


def test_each_secret_is_read_once_per_action() -> None:
    source = Secrets(SECRETS)

    render_request(http_action(url="https://x.example/{{ secrets.KEY }}", body=["{{ secrets.KEY }}"] * 3), {}, source)

    assert source.asked == ["KEY"]


def test_a_value_that_looks_like_a_reference_is_not_filled_in_again() -> None:
    source = Secrets({"A": "{{ secrets.B }}", "B": "never"})

    resolved = render_request(http_action(body="{{ secrets.A }}"), {}, source)

    assert resolved.action.body == "{{ secrets.B }}"


def test_unknown_secrets_fail_for_good_naming_every_missing_one_and_no_value() -> None:
    action = http_action(
        url="https://x.example/{{ secrets.MISSING_ONE }}",
        headers={"Authorization": "Bearer {{ secrets.TOKEN }}"},
        body={"b": "{{ secrets.MISSING_TWO }}"},
    )

    with pytest.raises(UnknownSecret) as caught:
        render_request(action, {}, Secrets(SECRETS))

    failure = caught.value
    assert (failure.kind, failure.retryable, failure.names) == ("unknown_secret", False, ["MISSING_ONE", "MISSING_TWO"])
    assert str(failure).startswith("secrets 'MISSING_ONE', 'MISSING_TWO' not defined: give the runner WFA_SECRET_")
    assert "t0ken-value" not in str(failure)


def test_a_secret_holding_a_line_break_cannot_go_in_a_header() -> None:
    source = Secrets({"EVIL": "x\r\nX-Injected: yes"})

    with pytest.raises(ActionFailed) as caught:
        render_request(http_action(headers={"X-Token": "{{ secrets.EVIL }}"}), {}, source)

    assert (caught.value.kind, caught.value.retryable) == ("invalid_secret", False)
    assert "'EVIL'" in str(caught.value) and "Injected" not in str(caught.value)
    # In a body, where it is JSON-encoded, it is harmless.
    assert render_request(http_action(body="{{ secrets.EVIL }}"), {}, source).action.body == "x\r\nX-Injected: yes"
