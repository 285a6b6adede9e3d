"""Capped exponential delays between attempts at something that failed because a dependency is down.

Not the workflows' retry policy (that is `wfa.domain.retry`, a user's setting): this paces a process's own
reconnection attempts (a scheduler pass, the runner's start-up, a record the runner could not store).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """With the defaults: 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, ... after consecutive failures."""

    initial: float = 1.0
    cap: float = 10.0
    failures: int = 0

    def next_delay(self) -> float:
        delay: float = min(self.cap, self.initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
