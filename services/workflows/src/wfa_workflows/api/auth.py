"""API keys: `Authorization: Bearer <key>`, read-write or read-only.

`WFA_API_KEYS` is a comma-separated list of entries, each `key`, `name:key` or `name:key:ro|rw` (a bare key or
a named one is read-write). Only SHA-256 digests of the keys are kept, and a presented key is compared with
every one of them in constant time, so neither the position of a match nor a key's length shows in the timing.
Names appear in logs; keys never do. With no keys configured the API is open (a warning is logged at start-up).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wfa_workflows.api.problems import HttpProblem

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from WFA_API_KEYS. Read-only keys may only GET.",
)


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    read_only: bool

    def __repr__(self) -> str:
        return f"ApiKey(name={self.name!r}, read_only={self.read_only})"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_api_keys(entries: Iterable[str]) -> tuple[ApiKey, ...]:
    """Raises ValueError for a malformed entry; the message names the entry by position, never by content."""
    keys: list[ApiKey] = []
    for position, entry in enumerate(entries, start=1):
        parts = [part.strip() for part in entry.strip().split(":")]
        mode = "rw"
        if len(parts) == 1:
            name, secret = f"key-{position}", parts[0]
        elif len(parts) == 2:
            name, secret = parts
        elif len(parts) == 3:
            name, secret, mode = parts
        else:
            raise ValueError(f"WFA_API_KEYS entry {position}: use key, name:key or name:key:ro|rw")
        if mode not in ("ro", "rw"):
            raise ValueError(f"WFA_API_KEYS entry {position}: the access mode must be ro or rw")
        if not name or not secret:
            raise ValueError(f"WFA_API_KEYS entry {position}: the name and the key must not be empty")
        keys.append(ApiKey(name=name, digest=_digest(secret), read_only=mode == "ro"))
    return tuple(keys)


class ApiKeyAuth:
    """The dependency guarding every API route; returns the key used (None when the API is open)."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> ApiKey | None:
        if not self.keys:
            return None
        if credentials is None:
            raise HttpProblem(
                401,
                "send an API key as Authorization: Bearer <key>",
                kind="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = self.match(credentials.credentials)
        if key is None:
            raise HttpProblem(
                401,
                "the API key is not valid",
                kind="unauthorized",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if key.read_only and request.method not in READ_METHODS:
            raise HttpProblem(403, f"the API key {key.name!r} is read-only", kind="forbidden")
        request.state.api_key = key  # for the routes that record who made a change (wfa_workflows.api.context)
        return key

    def match(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found: ApiKey | None = None
        for key in self.keys:  # no early exit: every key is compared, whichever matches
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        return found
