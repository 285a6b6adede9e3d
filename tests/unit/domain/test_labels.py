"""Labels on a definition and the `key=value` selectors that filter on them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wfa.domain.labels import MAX_LABELS, label_pairs, labels_from_pairs, parse_selector
from wfa.domain.workflow import WorkflowDefinition

SEED: dict[str, Any] = {
    "workflowId": "wf",
    "trigger": {"type": "manual"},
    "actions": [{"type": "log", "message": "hello"}],
}


def _errors(labels: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        WorkflowDefinition.model_validate({**SEED, "labels": labels})
    return [dict(error) for error in caught.value.errors()]


def test_labels_default_to_none_given() -> None:
    assert WorkflowDefinition.model_validate(SEED).labels == {}


def test_keys_may_hold_dots_slashes_dashes_and_underscores() -> None:
    labels = {"app.kubernetes.io/name": "billing", "team_a-b": "", "x" * 63: "v" * 255}
    assert WorkflowDefinition.model_validate({**SEED, "labels": labels}).labels == labels


@pytest.mark.parametrize("key", ["", "Upper", "with space", "a=b", "x" * 64, "ünï"])
def test_a_bad_key_is_refused_at_its_place(key: str) -> None:
    errors = _errors({key: "v"})
    assert errors[0]["loc"][:2] == ("labels", key)


def test_a_value_over_255_characters_is_refused_at_its_key() -> None:
    errors = _errors({"k": "v" * 256})
    assert errors[0]["loc"] == ("labels", "k")


def test_at_most_32_labels() -> None:
    errors = _errors({f"k{i}": "v" for i in range(MAX_LABELS + 1)})
    assert errors[0]["loc"] == ("labels",)


def test_a_value_must_be_a_string() -> None:
    assert _errors({"k": 1})[0]["loc"] == ("labels", "k")


def test_a_selector_splits_at_the_first_equals_sign() -> None:
    assert parse_selector("env=prod") == ("env", "prod")
    assert parse_selector("expr=a=b") == ("expr", "a=b")
    assert parse_selector("empty=") == ("empty", "")


@pytest.mark.parametrize("text", ["", "env", "=prod", "Env=prod", "env=" + "v" * 256])
def test_a_malformed_selector_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(text)


def test_labels_round_trip_through_pairs() -> None:
    labels = {"b": "2", "a.b/c": "x=y", "e": ""}
    assert label_pairs(labels) == ["a.b/c=x=y", "b=2", "e="]
    assert labels_from_pairs(label_pairs(labels)) == labels
