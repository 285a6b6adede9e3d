"""The system under test: embedded MongoDB and Kafka on free ports (or servers already running, given by address),
and the three services (via the devstack harness) on free ports, with a topic prefix and a database of the run's
own."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from wfa_devstack import EmbeddedKafka, EmbeddedMongo, ServiceStack, free_port, start_services, with_database


@dataclass(frozen=True)
class Stack:
    services: ServiceStack
    kafka_bootstrap: str
    topic_prefix: str
    log_dir: Path
    server_pids: Mapping[str, int] = field(default_factory=dict)  # {"mongo": pid, "kafka": pid}
    mongo_url: str = ""  # with the run's database, as the services are given it

    @property
    def api_url(self) -> str:
        return self.services.api_url

    @property
    def metrics_urls(self) -> dict[str, str]:
        """`{name: http://host:port/metrics}` of every service process (`runner-svc`, `runner-svc-2`, ...)."""
        return {name: f"{process.url}/metrics" for name, process in self.services.processes.items()}

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}execution-events"


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextmanager
def running_stack(
    log_dir: Path,
    *,
    start_timeout: float,
    extra_env: Mapping[str, str] | None = None,
    runners: int = 1,
    schedulers: int = 1,
    broker_metrics_endpoint: str | None = None,
    mongo_url: str | None = None,
    kafka_bootstrap: str | None = None,
) -> Iterator[Stack]:
    """Start everything, yield it, stop everything (also on error). Must run on the main thread: the servers
    and services die with the thread that started them, so an interrupted run leaves nothing behind.
    `extra_env` adds WFA_ variables for every service; `runners` or `schedulers` > 1 start more of those;
    `broker_metrics_endpoint`: where the embedded Kafka exports its own counters (OTLP/HTTP). `mongo_url` or
    `kafka_bootstrap`: use that running server instead of starting an embedded one (it is left running; the run
    still gets a database and topics of its own there)."""
    tag = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        embedded: list[EmbeddedMongo | EmbeddedKafka] = []
        if mongo_url is None:
            embedded.append(EmbeddedMongo(free_port(), None, log_dir / "mongo.log", die_with_parent=True))
        if kafka_bootstrap is None:
            embedded.append(
                EmbeddedKafka(
                    free_port(), log_dir / "kafka.log", die_with_parent=True, metrics_endpoint=broker_metrics_endpoint
                )
            )
        if embedded:
            _progress(f"starting embedded {' and '.join(s.name for s in embedded)} (logs in {log_dir})")
        # Launch all before waiting, so that their start-ups overlap.
        for server in embedded:
            stack.callback(server.stop)
            server.launch()
        for server in embedded:
            server.wait_ready(start_timeout)
            if isinstance(server, EmbeddedMongo):
                mongo_url = server.url
            else:
                kafka_bootstrap = server.bootstrap
        assert mongo_url is not None and kafka_bootstrap is not None
        topic_prefix = f"bench.{tag}."
        _progress(f"starting workflows-svc, {schedulers} scheduler-svc and {runners} runner-svc")
        mongo_url = with_database(mongo_url, f"wfa_bench_{tag}")
        services = start_services(
            mongo_url,
            kafka_bootstrap,
            topic_prefix,
            log_dir=log_dir,
            extra_env=extra_env,
            runners=runners,
            schedulers=schedulers,
            timeout=start_timeout,
        )
        stack.enter_context(services)
        _progress(f"ready: API on {services.api_url}")
        pids = {server.name: server.pid for server in embedded if server.pid is not None}
        yield Stack(
            services=services,
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=topic_prefix,
            log_dir=log_dir,
            server_pids=pids,
            mongo_url=mongo_url,
        )


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far (Linux /proc), or None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) is in parentheses and may hold spaces: count fields after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def cpu_by_process(pids: Mapping[str, int]) -> dict[str, float | None]:
    """`{name: CPU seconds used so far}` of each process (see `cpu_seconds`)."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def seconds_between(first: float | None, last: float | None) -> float | None:
    """What a CPU-seconds counter grew by between two readings (None where either is missing)."""
    return None if first is None or last is None else round(last - first, 3)


def cpu_used(before: Mapping[str, float | None], after: Mapping[str, float | None]) -> dict[str, float | None]:
    """CPU seconds each process used between two `cpu_by_process` readings (None where either is missing)."""
    return {name: seconds_between(before.get(name), last) for name, last in sorted(after.items())}


def percent_of_core(cpu: float | None, seconds: float) -> float | None:
    """`cpu` seconds of CPU used over `seconds` of wall time, as a share of one core (100 = one core busy)."""
    return None if cpu is None or seconds <= 0 else round(100 * cpu / seconds, 1)


def rss_bytes(pid: int) -> int | None:
    """The process's resident memory now (VmRSS in Linux /proc), or None where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # /proc gives kB
    return None


def process_pids(stack: ServiceStack, servers: Mapping[str, int]) -> dict[str, int]:
    """`{name: pid}` of every running service process and every embedded server (`mongo server`, ...)."""
    pids = {name: process.pid for name, process in stack.processes.items() if process.is_running()}
    return {
        **{name: pid for name, pid in pids.items() if pid is not None},
        **{f"{name} server": pid for name, pid in servers.items()},
    }
