"""The seed and the time budget of the property-based tests (hypothesis, schemathesis).

Every run draws a fresh seed, so that fuzzing keeps finding new inputs instead of replaying the same ones; the
seed is printed at the end of the run (tests/conftest.py), and `WFA_FUZZ_SEED=<seed>` replays it (give the
replay at least the same `WFA_FUZZ_SECONDS`: a run generates examples until its budget is spent, so a shorter
one may stop before the failing example). `WFA_FUZZ_SECONDS` (default 60) is the budget of the API fuzzing
module; the other fuzz tests take a share of it.
"""

from __future__ import annotations

import os
import random
import time
import unittest
from collections.abc import Iterator
from contextlib import contextmanager

FUZZ_SEED = int(os.environ.get("WFA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FUZZ_SECONDS = float(os.environ.get("WFA_FUZZ_SECONDS") or 60)
# High enough that the time budget, not the count, ends a run.
UNBOUNDED_EXAMPLES = 1_000_000


class BudgetSpent(unittest.SkipTest):
    """Ends a hypothesis run early without failing it: hypothesis re-raises skip exceptions at once, and the
    hook in tests/conftest.py turns this one into a pass (recognised by MARK: on the way out it may have become
    pytest's own skip exception)."""

    MARK = "fuzzing budget spent:"

    @classmethod
    def is_one(cls, exc: BaseException) -> bool:
        return isinstance(exc, cls) or str(exc).startswith(cls.MARK)


class Budget:
    """A time budget for one property-based test, counted from its first example."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.examples = 0
        self._deadline: float | None = None
        self._failed = False

    def check(self) -> None:
        """Call before each example: once the budget is spent, the run ends here, unless an example failed
        (hypothesis must then be free to shrink it)."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.seconds
        elif now > self._deadline and not self._failed:
            raise BudgetSpent(
                f"{BudgetSpent.MARK} {self.examples} examples in {self.seconds:g}s (WFA_FUZZ_SEED={FUZZ_SEED})"
            )
        self.examples += 1

    @contextmanager
    def failures(self) -> Iterator[None]:
        """Wrap what may fail: a failure lifts the budget, so that hypothesis can shrink it and report it."""
        try:
            yield
        except BaseException:
            self._failed = True
            raise

    @contextmanager
    def example(self) -> Iterator[None]:
        self.check()
        with self.failures():
            yield


def budget(share: float) -> Budget:
    """A budget of `share` × WFA_FUZZ_SECONDS."""
    return Budget(FUZZ_SECONDS * share)
