"""Where secret values come from, as the services see it: a name in, a value (or nothing) out. The adapters are in
wfa.adapters.secrets; the runner fills secrets into actions, the workflows service verifies webhook signatures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class SecretSource(Protocol):
    def get(self, name: str) -> str | None:
        """The value of the secret `name`; None when there is no such secret. Raises UnreadableSecret when it exists
        but cannot be read."""


class ListedSecrets(SecretSource, Protocol):
    def values(self) -> Iterator[str]:
        """Every value this source holds now (for the redactor to know them from the start)."""
