from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from wfa.domain.durations import Interval, Timeout, format_duration, parse_duration


class _Holder(BaseModel):
    interval: Interval
    timeout: Timeout = timedelta(seconds=10)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("10s", 10), ("5m", 300), ("2h", 7200), ("1d", 86400), ("365d", 365 * 86400)],
)
def test_parse_duration_reads_integer_and_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1.5s", "-1s", "10x", "10 s", " 10s", "10S", "1ms", "1w"])
def test_parse_duration_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1s"), (90, "90s"), (60, "1m"), (3600, "1h"), (5400, "90m"), (86400, "1d")]
)
def test_format_duration_uses_the_largest_exact_unit(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_interval_is_normalised_on_output() -> None:
    assert _Holder(interval="60s").model_dump(mode="json")["interval"] == "1m"  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0s", "366d", 10, None, "1.5s", "999999999999d", "318501411262h"])
def test_interval_outside_bounds_or_not_a_string_is_refused(text: object) -> None:
    with pytest.raises(ValidationError):
        _Holder(interval=text)  # type: ignore[arg-type]


def test_timeout_is_bounded_to_one_hour() -> None:
    with pytest.raises(ValidationError):
        _Holder(interval="1s", timeout="2h")  # type: ignore[arg-type]
