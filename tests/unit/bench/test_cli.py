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
