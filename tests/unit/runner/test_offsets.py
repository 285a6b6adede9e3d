"""Offset bookkeeping: per partition, only the contiguous run of finished records is committable."""

from __future__ import annotations

from wfa_runner.offsets import OffsetTracker


def tracker_with(*offsets: int, partition: str = "p0") -> OffsetTracker[str]:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in offsets:
        tracker.started(partition, offset)
    return tracker


def test_nothing_is_committable_before_a_record_finishes() -> None:
    tracker = tracker_with(5, 6)

    assert tracker.committable() == {}


def test_a_finished_record_makes_the_next_offset_committable() -> None:
    tracker = tracker_with(5, 6)

    tracker.finished("p0", 5)

    assert tracker.committable() == {"p0": 6}


def test_a_later_record_finishing_first_does_not_move_the_offset() -> None:
    tracker = tracker_with(5, 6, 7)

    tracker.finished("p0", 6)
    tracker.finished("p0", 7)

    assert tracker.committable() == {}
    assert tracker.in_flight("p0") == 1


def test_the_oldest_record_finishing_releases_everything_finished_after_it() -> None:
    tracker = tracker_with(5, 6, 7, 8)
    tracker.finished("p0", 6)
    tracker.finished("p0", 7)

    tracker.finished("p0", 5)

    assert tracker.committable() == {"p0": 8}


def test_partitions_are_independent() -> None:
    tracker = tracker_with(1, 2)
    tracker.started("p1", 40)
    tracker.started("p1", 41)

    tracker.finished("p1", 40)
    tracker.finished("p1", 41)

    assert tracker.committable() == {"p1": 42}


def test_a_committed_offset_is_not_offered_again() -> None:
    tracker = tracker_with(5, 6)
    tracker.finished("p0", 5)
    tracker.committed({"p0": 6})

    assert tracker.committable() == {}

    tracker.finished("p0", 6)

    assert tracker.committable() == {"p0": 7}


def test_gaps_in_offsets_are_fine() -> None:
    # Offsets skip on compacted topics and after transaction markers.
    tracker = tracker_with(10, 14)

    tracker.finished("p0", 10)
    tracker.finished("p0", 14)

    assert tracker.committable() == {"p0": 15}


def test_a_partition_read_again_from_an_earlier_offset_starts_afresh() -> None:
    tracker = tracker_with(5, 6, 7)
    tracker.finished("p0", 6)

    tracker.started("p0", 5)  # the partition came back after a rebalance, read from its committed offset

    assert tracker.in_flight("p0") == 1
    tracker.finished("p0", 5)
    assert tracker.committable() == {"p0": 6}


def test_finishing_an_unknown_offset_is_ignored() -> None:
    tracker = tracker_with(5)

    tracker.finished("p0", 99)
    tracker.finished("other", 1)

    assert tracker.committable() == {}
