import os
import time

from bench.stack import cpu_by_process, cpu_seconds, cpu_used, rss_bytes


def test_cpu_seconds_of_a_process_grow_as_it_works() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass

    after = cpu_seconds(os.getpid())

    assert before is not None and after is not None
    assert after > before


def test_cpu_seconds_of_no_process_is_none() -> None:
    assert cpu_seconds(2**22 + 1) is None


def test_rss_of_a_running_process_is_some_megabytes() -> None:
    rss = rss_bytes(os.getpid())

    assert rss is not None
    assert rss > 2**20


def test_rss_of_no_process_is_none() -> None:
    assert rss_bytes(2**22 + 1) is None


def test_cpu_used_between_two_readings_is_per_process_and_none_where_a_reading_is_missing() -> None:
    before = cpu_by_process({"me": os.getpid(), "gone": 2**22 + 1})
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass

    used = cpu_used(before, cpu_by_process({"me": os.getpid(), "gone": 2**22 + 1}))

    assert used["gone"] is None
    assert used["me"] is not None and used["me"] > 0
    assert cpu_used({"new": None}, {"new": 1.5, "later": 2.0}) == {"later": None, "new": None}
