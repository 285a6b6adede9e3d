"""Opaque page cursors, shared by every repository implementation so that their pages agree."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from wfa.domain.errors import ValidationFailed


def encode_workflow_cursor(last_workflow_id: str) -> str:
    return _encode({"after": last_workflow_id})


def decode_workflow_cursor(cursor: str) -> str:
    after = _decode(cursor).get("after")
    if not isinstance(after, str):
        raise _invalid()
    return after


def encode_execution_cursor(created_at: datetime, execution_id: str) -> str:
    return _encode({"createdAt": created_at.isoformat(), "executionId": execution_id})


def decode_execution_cursor(cursor: str) -> tuple[datetime, str]:
    data = _decode(cursor)
    try:
        created_at, execution_id = datetime.fromisoformat(data["createdAt"]), data["executionId"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid() from exc
    # We only hand out aware timestamps and string ids; anything else is forged, and a naive datetime would not
    # even compare with the stored ones.
    if created_at.tzinfo is None or not isinstance(execution_id, str):
        raise _invalid()
    return created_at, execution_id


def encode_version_cursor(created_at: datetime, last_version: int) -> str:
    return _encode({"createdAt": created_at.isoformat(), "before": str(last_version)})


def decode_version_cursor(cursor: str) -> tuple[datetime, int]:
    """(the createdAt of the workflow whose history is paged, the version the next page starts below)"""
    data = _decode(cursor)
    try:
        created_at, before = datetime.fromisoformat(data["createdAt"]), data["before"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid() from exc
    if created_at.tzinfo is None or not isinstance(before, str) or not before.isascii() or not before.isdigit():
        raise _invalid()
    return created_at, int(before)


def _encode(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _invalid() from exc
    if not isinstance(data, dict):
        raise _invalid()
    return data


def _invalid() -> ValidationFailed:
    return ValidationFailed("the cursor is not one this API handed out", loc=("query", "cursor"))
