"""Webhook signatures (contract v2, "Webhook triggers"): HMAC-SHA256 of `<timestamp>.<raw body>`, a 300 s window
either side of now, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from wfa.domain import webhooks
from wfa.domain.errors import InvalidSignature
from wfa.domain.webhooks import SIGNATURE_WINDOW, sign, verify_signature

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret"
BODY = b'{"ref": "refs/heads/main"}'


def stamp(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def test_the_signature_is_the_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1777636800." + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, "1777636800", BODY) == f"sha256={expected}"


def test_a_request_signed_now_is_accepted() -> None:
    timestamp = stamp(NOW)

    verify_signature(SECRET, timestamp=timestamp, signature=sign(SECRET, timestamp, BODY), body=BODY, now=NOW)


@pytest.mark.parametrize("offset", [timedelta(0), SIGNATURE_WINDOW, -SIGNATURE_WINDOW])
def test_a_timestamp_up_to_300_seconds_away_either_way_is_accepted(offset: timedelta) -> None:
    timestamp = stamp(NOW + offset)

    verify_signature(SECRET, timestamp=timestamp, signature=sign(SECRET, timestamp, BODY), body=BODY, now=NOW)


@pytest.mark.parametrize("offset", [SIGNATURE_WINDOW + timedelta(seconds=1), -SIGNATURE_WINDOW - timedelta(seconds=1)])
def test_a_timestamp_more_than_300_seconds_away_either_way_is_refused(offset: timedelta) -> None:
    timestamp = stamp(NOW + offset)

    with pytest.raises(InvalidSignature, match="timestamp"):
        verify_signature(SECRET, timestamp=timestamp, signature=sign(SECRET, timestamp, BODY), body=BODY, now=NOW)


def test_a_signature_over_another_body_is_refused() -> None:
    timestamp = stamp(NOW)

    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, timestamp=timestamp, signature=sign(SECRET, timestamp, b"{}"), body=BODY, now=NOW)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    timestamp = stamp(NOW)

    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, timestamp=timestamp, signature=sign("other", timestamp, BODY), body=BODY, now=NOW)


def test_a_signature_for_another_timestamp_is_refused() -> None:
    """The timestamp is signed: moving an old request's timestamp into the window breaks its signature."""
    old = sign(SECRET, stamp(NOW - timedelta(hours=1)), BODY)

    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, timestamp=stamp(NOW), signature=old, body=BODY, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (None, "sha256=00"),
        ("", "sha256=00"),
        ("12.5", "sha256=00"),
        ("-1", "sha256=00"),
        ("1e9", "sha256=00"),
        ("٣٣٣", "sha256=00"),  # digits, but not ASCII ones
        ("9" * 40, "sha256=00"),
        ("NOW", None),
        ("NOW", ""),
        ("NOW", "md5=abc"),
        ("NOW", "sha256="),
        ("NOW", "sha256=zz"),
        ("NOW", "sha256=" + "é" * 64),
        ("NOW", "x" * 10_000),
    ],
)
def test_a_missing_or_malformed_header_is_refused(timestamp: str | None, signature: str | None) -> None:
    timestamp = stamp(NOW) if timestamp == "NOW" else timestamp

    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)


def test_upper_case_hex_is_accepted() -> None:
    timestamp = stamp(NOW)
    signature = sign(SECRET, timestamp, BODY)

    verify_signature(SECRET, timestamp=timestamp, signature="sha256=" + signature[7:].upper(), body=BODY, now=NOW)


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", recording)
    timestamp = stamp(NOW)
    signature = sign(SECRET, timestamp, BODY)

    verify_signature(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, timestamp=timestamp, signature=_one_digit_off(signature), body=BODY, now=NOW)

    assert len(compared) == 2


def _one_digit_off(signature: str) -> str:
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")
