import pytest
from bench.cli import chosen, parser


def test_every_scenario_runs_by_default_in_order() -> None:
    assert chosen(parser().parse_args([])) == ["latency", "throughput", "cost"]


def test_chosen_scenarios_run_once_in_canonical_order() -> None:
    args = parser().parse_args(["--scenario", "cost", "--scenario", "latency", "--scenario", "cost"])

    assert chosen(args) == ["latency", "cost"]


def test_default_sizes_are_those_documented() -> None:
    args = parser().parse_args([])

    assert (args.latency_executions, args.throughput_executions, args.cost_executions) == (100, 200, 100)


@pytest.mark.parametrize("flag", ["--latency-executions=0", "--concurrency=-1", "--poll-interval-ms=0"])
def test_sizes_must_be_positive(flag: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args([flag])


def test_schedule_runs_only_when_named_and_after_the_others() -> None:
    args = parser().parse_args(["--scenario", "schedule", "--scenario", "latency"])

    assert chosen(args) == ["latency", "schedule"]
    assert "schedule" not in chosen(parser().parse_args([]))


def test_schedule_intervals_are_a_range_of_whole_seconds() -> None:
    assert parser().parse_args([]).schedule_intervals == (1, 10)
    assert parser().parse_args(["--schedule-intervals", "2-5"]).schedule_intervals == (2, 5)
    assert parser().parse_args(["--schedule-intervals", "3"]).schedule_intervals == (3, 3)
    for wrong in ("0-5", "5-2", "a-b"):
        with pytest.raises(SystemExit):
            parser().parse_args(["--schedule-intervals", wrong])


def test_the_long_scenarios_run_only_when_named_and_history_last() -> None:
    args = parser().parse_args(["--scenario", "history", "--scenario", "soak", "--scenario", "micro"])

    assert chosen(args) == ["micro", "soak", "history"]
    assert not {"micro", "soak", "history"} & set(chosen(parser().parse_args([])))


def test_soak_history_and_scale_defaults_are_those_documented() -> None:
    args = parser().parse_args([])

    assert (args.soak_minutes, args.soak_window_seconds, args.soak_periodic, args.soak_rate) == (30.0, 300.0, 20, 5.0)
    assert args.history_executions == 50_000
    assert (args.runners, args.schedulers) == (1, 1)


@pytest.mark.parametrize("flag", ["--runners=0", "--schedulers=0", "--soak-minutes=0", "--history-executions=0"])
def test_scale_soak_and_history_sizes_must_be_positive(flag: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args([flag])
