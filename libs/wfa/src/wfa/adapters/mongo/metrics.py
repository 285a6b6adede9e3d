"""Prometheus counters of MongoDB round trips, and the offset of this host's clock from the server's (default
registry, served by every process's /metrics).

Every command the driver sends is counted by name, so the benchmark can divide
`wfa_mongodb_commands_total` by the number of executions and report round trips per execution.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from wfa.observability.metrics import once_per_registry


def _counter(name: str, documentation: str) -> Counter:
    return once_per_registry(REGISTRY, f"{name}_total", Counter, lambda: Counter(name, documentation, ["command"]))


COMMANDS = _counter("wfa_mongodb_commands", "Commands sent to MongoDB (round trips), per command name")
COMMANDS_FAILED = _counter("wfa_mongodb_commands_failed", "MongoDB commands that failed, per command name")
CLOCK_OFFSET = once_per_registry(
    REGISTRY,
    "wfa_clock_offset_seconds",
    Gauge,
    lambda: Gauge("wfa_clock_offset_seconds", "MongoDB server time minus this host's system time, as last measured"),
)


class CommandCounter(CommandListener):
    """Counts every command a client sends; registered on the client by MongoStore."""

    def started(self, event: CommandStartedEvent) -> None:
        COMMANDS.labels(command=event.command_name).inc()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        COMMANDS_FAILED.labels(command=event.command_name).inc()
