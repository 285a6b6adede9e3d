"""Which offsets may be committed when records of one partition finish out of order.

The worker runs many records at once, so record 7 may finish before record 5. Kafka's committed offset means
"everything before this is done", so per partition only the contiguous run of finished records from the
oldest one counts: with 5 running and 6, 7 finished, the committable offset stays 5 until 5 finishes, then
jumps to 8. A crash redelivers what was not committed, which the runner's claim makes harmless.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


@dataclass
class _Partition:
    outstanding: deque[int] = field(default_factory=deque)  # started and not yet committable, in fetch order
    finished: set[int] = field(default_factory=set)
    next_offset: int | None = None  # the offset of the next record to read once all before it are done
    committed: int | None = None


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._partitions: dict[P, _Partition] = {}

    def started(self, partition: P, offset: int) -> None:
        """A record was fetched and handed to a worker. Offsets arrive in increasing order per partition; one
        that does not (the partition came back after a rebalance and is read again from its committed offset)
        starts the partition's bookkeeping afresh."""
        state = self._partitions.get(partition)
        if state is None or _rewound(state, offset):
            state = self._partitions[partition] = _Partition()
        state.outstanding.append(offset)

    def finished(self, partition: P, offset: int) -> None:
        """The record is done with (run, dead-lettered, or a no-op). Unknown offsets are ignored."""
        state = self._partitions.get(partition)
        if state is None or offset not in state.outstanding:
            return
        state.finished.add(offset)
        while state.outstanding and state.outstanding[0] in state.finished:
            done = state.outstanding.popleft()
            state.finished.discard(done)
            state.next_offset = done + 1

    def committable(self) -> dict[P, int]:
        """Per partition, the next offset to read, where it moved past what was last committed."""
        return {
            partition: state.next_offset
            for partition, state in self._partitions.items()
            if state.next_offset is not None and state.next_offset != state.committed
        }

    def committed(self, offsets: Mapping[P, int]) -> None:
        for partition, offset in offsets.items():
            state = self._partitions.get(partition)
            if state is not None:
                state.committed = offset

    def in_flight(self, partition: P) -> int:
        state = self._partitions.get(partition)
        return len(state.outstanding) - len(state.finished) if state is not None else 0


def _rewound(state: _Partition, offset: int) -> bool:
    if state.outstanding:
        return offset <= state.outstanding[-1]
    return state.next_offset is not None and offset < state.next_offset
