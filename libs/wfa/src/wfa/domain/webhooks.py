"""Webhook signatures (contract v2, "Webhook triggers"): what a sender signs and how a request's signature is judged.

A sender signs `<timestamp>.<raw body>` with HMAC-SHA256 and the workflow's secret, and sends
`X-Wfa-Timestamp: <unix seconds>` and `X-Wfa-Signature: sha256=<hex>`. Signing the timestamp with the body binds
the two: a captured request cannot be given a fresh timestamp, so outside the window it is worthless, and inside
it an `Idempotency-Key` makes a replay return the first execution instead of starting another.

Pure: the caller passes the secret's value and the time.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Final

from wfa.domain.errors import InvalidSignature

SIGNATURE_WINDOW: Final = timedelta(seconds=300)
"""How far the signed timestamp may be from now, either way (clock skew and delivery delay)."""
SCHEME: Final = "sha256="
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
_DIGEST_HEX_LENGTH: Final = hashlib.sha256().digest_size * 2
_MAX_TIMESTAMP_DIGITS: Final = 12  # unix seconds until the year 33658: enough, and int() stays cheap


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Wfa-Signature` value for `body` sent at `timestamp` (unix seconds, as sent in `X-Wfa-Timestamp`)."""
    return SCHEME + _digest(secret, timestamp, body).hex()


def _digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()


def verify_signature(secret: str, *, timestamp: str | None, signature: str | None, body: bytes, now: datetime) -> None:
    """Returns when `signature` is the signature of `body` at `timestamp` and `timestamp` is within
    SIGNATURE_WINDOW of `now`; raises InvalidSignature otherwise, saying which (never what was expected)."""
    if not timestamp:
        raise InvalidSignature("the X-Wfa-Timestamp header is missing")
    if not signature:
        raise InvalidSignature("the X-Wfa-Signature header is missing")
    seconds = _unix_seconds(timestamp)
    if abs(now.timestamp() - seconds) > SIGNATURE_WINDOW.total_seconds():
        raise InvalidSignature(
            f"the timestamp is more than {int(SIGNATURE_WINDOW.total_seconds())} s away from the server's time: "
            "sign each request when it is sent"
        )
    presented = _presented_digest(signature)
    # Constant time: how long the comparison takes says nothing about how much of the signature was right.
    if not hmac.compare_digest(presented, _digest(secret, timestamp, body)):
        raise InvalidSignature("the signature does not match the body and timestamp")


def _unix_seconds(timestamp: str) -> int:
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
        raise InvalidSignature("X-Wfa-Timestamp must be the unix time in whole seconds")
    return int(timestamp)


def _presented_digest(signature: str) -> bytes:
    hex_part = signature[len(SCHEME) :].lower() if signature.startswith(SCHEME) else ""
    if len(hex_part) != _DIGEST_HEX_LENGTH or not _HEX_DIGITS.issuperset(hex_part):
        raise InvalidSignature("X-Wfa-Signature must be sha256=<64 hex digits>")
    return bytes.fromhex(hex_part)
