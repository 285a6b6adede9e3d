import pytest
from bench.cost import cost_figures, exporting, strip_prefix


def exposition(commands: dict[str, int], produced: dict[str, int]) -> str:
    lines = ["# TYPE wfa_mongodb_commands_total counter"]
    lines += [f'wfa_mongodb_commands_total{{command="{name}"}} {value}' for name, value in commands.items()]
    lines += ["# TYPE wfa_kafka_messages_produced_total counter"]
    lines += [f'wfa_kafka_messages_produced_total{{topic="{name}"}} {value}' for name, value in produced.items()]
    return "\n".join(lines) + "\n"


BEFORE = {
    "workflows-svc": exposition({"find": 10, "insert": 5}, {"p.execution-requests": 5}),
    "scheduler-svc": exposition({"find": 100}, {}),
    "runner-svc": exposition({"update": 20}, {"p.execution-events": 30}),
}
AFTER = {
    "workflows-svc": exposition({"find": 30, "insert": 25}, {"p.execution-requests": 15}),
    "scheduler-svc": exposition({"find": 110}, {}),
    "runner-svc": exposition({"update": 60, "find": 10}, {"p.execution-events": 60}),
}


def test_cost_figures_divide_the_deltas_summed_over_processes_by_the_executions() -> None:
    figures = cost_figures(BEFORE, AFTER, per=10, topic_prefix="p.")

    assert figures == {
        "mongodb_commands": {
            "total": 10.0,
            "by_command": {"find": 4.0, "insert": 2.0, "update": 4.0},
            "by_process": {"workflows-svc": 4.0, "scheduler-svc": 1.0, "runner-svc": 5.0},
        },
        "kafka_messages_produced": {
            "total": 4.0,
            "by_topic": {"execution-events": 3.0, "execution-requests": 1.0},
        },
    }


def test_cost_figures_refuse_to_divide_by_nothing() -> None:
    with pytest.raises(ValueError):
        cost_figures(BEFORE, AFTER, per=0, topic_prefix="p.")


def test_exporting_names_the_processes_that_declare_a_counter() -> None:
    scrape = {"a": "# TYPE wfa_mongodb_commands_total counter\n", "b": "# TYPE other_total counter\n"}

    assert exporting(scrape, "wfa_mongodb_commands_total") == ["a"]


def test_strip_prefix_leaves_other_topics_alone() -> None:
    assert strip_prefix({"p.execution-events": 1.0, "other": 2.0}, "p.") == {"execution-events": 1.0, "other": 2.0}
