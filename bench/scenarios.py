"""The scenarios: latency (one at a time), throughput (many at once), cost (counters per execution) and schedule
(many periodic workflows firing on their own)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from bench.api import (
    BenchError,
    Execution,
    WorkflowsApi,
    finished_at,
    parse_timestamp,
    require_succeeded,
    server_latency_ms,
)
from bench.cost import (
    KAFKA_PRODUCED,
    MONGODB_COMMANDS,
    Scrape,
    broker_request_figures,
    cost_figures,
    deltas,
    exporting,
)
from bench.events import FinalEventWatcher
from bench.grid import slots_between
from bench.promtext import counter_delta, counter_series, gauge_value, histogram_buckets, histogram_delta
from bench.stack import cpu_by_process, cpu_used, percent_of_core, seconds_between
from bench.stats import distribution, histogram_quantile

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Context:
    api: WorkflowsApi
    http: httpx.AsyncClient
    watcher: FinalEventWatcher
    metrics_urls: Mapping[str, str]
    topic_prefix: str
    run_tag: str
    timeout: float  # the longest any wait of a scenario may take, in seconds
    server_pids: Mapping[str, int] = field(default_factory=dict)  # the embedded servers' processes, by name
    # Every service process and embedded server now running, by name (`bench.stack.process_pids`).
    pids: Callable[[], Mapping[str, int]] = dict
    # The broker's cumulative requests by Kafka API, fresh (`OtlpSink.fresh_broker_requests`); None: not counted.
    broker_requests: Callable[[], Awaitable[dict[str, float] | None]] | None = None


def cpu_since(ctx: Context, before: Mapping[str, float | None]) -> dict[str, float | None]:
    """CPU seconds each process used since the `cpu_by_process` reading `before`."""
    return cpu_used(before, cpu_by_process(ctx.pids()))


def ms_per(used: Mapping[str, float | None], per: int) -> dict[str, float | None]:
    """CPU milliseconds per execution of each process: the services' own cost next to the embedded servers'
    (where those are the wall, their share shows it)."""
    return {name: None if seconds is None else round(seconds * 1000 / per, 2) for name, seconds in used.items()}


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def bounded(items: Iterable[T], concurrency: int, call: Callable[[T], Awaitable[R]]) -> list[R]:
    """`call` on every item with at most `concurrency` in flight; results in the items' order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with semaphore:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _create_workflows(ctx: Context, name: str, count: int, concurrency: int) -> list[str]:
    ids = [f"{ctx.run_tag}-{name}-{i:05d}" for i in range(count)]
    await bounded(ids, concurrency, ctx.api.create_log_workflow)
    return ids


async def _fetch_succeeded(ctx: Context, execution_ids: Iterable[str], concurrency: int) -> list[Execution]:
    async def fetch(execution_id: str) -> Execution:
        return require_succeeded(await ctx.api.execution(execution_id))

    return await bounded(execution_ids, concurrency, fetch)


async def latency(ctx: Context, *, executions: int, warmup: int, poll_interval: float) -> dict[str, Any]:
    """Trigger one workflow `executions` times, one after the other, each awaited by polling its execution."""
    (workflow_id,) = await _create_workflows(ctx, "latency", 1, 1)
    client_ms: list[float] = []
    server_ms: list[float] = []
    progress(
        f"latency: {warmup} warm-up + {executions} sequential executions, polling every {poll_interval * 1000:g} ms"
    )
    cpu_before = cpu_by_process(ctx.pids())
    for i in range(warmup + executions):
        if i == warmup:
            cpu_before = cpu_by_process(ctx.pids())
        sent = time.monotonic()
        execution_id = await ctx.api.trigger(workflow_id)
        execution = await ctx.api.wait_finished(execution_id, interval=poll_interval, timeout=ctx.timeout)
        observed = time.monotonic()
        require_succeeded(execution)
        if i >= warmup:
            client_ms.append((observed - sent) * 1000)
            server_ms.append(server_latency_ms(execution))
    return {
        "executions": executions,
        "warmup_executions": warmup,
        "poll_interval_ms": poll_interval * 1000,
        "client_ms": distribution(client_ms),
        "server_ms": distribution(server_ms),
        "cpu_ms_per_execution": ms_per(cpu_since(ctx, cpu_before), executions),
    }


@dataclass(frozen=True)
class _Sent:
    execution_id: str
    sent_monotonic: float
    sent_wall: float


async def _trigger_all(ctx: Context, workflow_ids: list[str], concurrency: int) -> list[_Sent]:
    async def fire(workflow_id: str) -> _Sent:
        sent_monotonic, sent_wall = time.monotonic(), time.time()
        return _Sent(await ctx.api.trigger(workflow_id), sent_monotonic, sent_wall)

    return await bounded(workflow_ids, concurrency, fire)


async def throughput(ctx: Context, *, executions: int, concurrency: int, name: str = "throughput") -> dict[str, Any]:
    """Trigger `executions` workflows at once (at most `concurrency` requests in flight) and wait for them all.
    `name` tells the workflows of one call from another's."""
    progress(f"{name}: creating {executions} workflows")
    workflow_ids = await _create_workflows(ctx, name, executions, concurrency)
    progress(f"{name}: triggering {executions} executions, {concurrency} requests in flight")
    cpu_before = cpu_by_process(ctx.pids())
    start = time.monotonic()
    sent = await _trigger_all(ctx, workflow_ids, concurrency)
    triggered = time.monotonic()
    finals = await ctx.watcher.wait_for([s.execution_id for s in sent], ctx.timeout)
    cpu = cpu_since(ctx, cpu_before)
    finished = await _fetch_succeeded(ctx, [s.execution_id for s in sent], concurrency)

    first_sent_wall = min(s.sent_wall for s in sent)
    last_finished = max(finished_at(execution).timestamp() for execution in finished)
    server_seconds = last_finished - first_sent_wall
    client_seconds = max(event.seen_at for event in finals.values()) - start
    return {
        "executions": executions,
        "client_concurrency": concurrency,
        "executions_per_second": round(executions / server_seconds, 1),
        "seconds": round(server_seconds, 3),
        "executions_per_second_client": round(executions / client_seconds, 1),
        "client_seconds": round(client_seconds, 3),
        "trigger_requests_per_second": round(executions / (triggered - start), 1),
        "client_ms": distribution([(finals[s.execution_id].seen_at - s.sent_monotonic) * 1000 for s in sent]),
        "server_ms": distribution([server_latency_ms(execution) for execution in finished]),
        # Up to the last final event read: per execution, and as a share of a core over `client_seconds`.
        "cpu_ms_per_execution": ms_per(cpu, executions),
        "cpu_percent_of_core": {name: percent_of_core(seconds, client_seconds) for name, seconds in cpu.items()},
    }


async def scrape(ctx: Context) -> dict[str, str]:
    """`{process: /metrics text}` of the three processes, fetched concurrently."""

    async def one(url: str) -> str:
        response = await ctx.http.get(url)
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}: {response.text[:500]}")
        return response.text

    texts = await asyncio.gather(*(one(url) for url in ctx.metrics_urls.values()))
    return dict(zip(ctx.metrics_urls, texts, strict=True))


def _activity(scrape: Scrape, *, quiet_processes: Iterable[str]) -> tuple[object, ...]:
    """What must stop changing once the executions are done: every process's Kafka produce counters, and the
    MongoDB command counters of `quiet_processes` (the scheduler polls MongoDB all the time, idle or not)."""
    quiet = set(quiet_processes)
    return tuple(
        (process, sorted(counter_series(text, KAFKA_PRODUCED).items()))
        + ((sorted(counter_series(text, MONGODB_COMMANDS).items()),) if process in quiet else ())
        for process, text in sorted(scrape.items())
    )


async def _settled_scrape(ctx: Context, *, gap: float, timeout: float) -> tuple[dict[str, str], bool]:  # noqa: ASYNC109
    """A scrape once two in a row, `gap` apart, show no more activity from the executions (see `_activity`),
    or the last one after `timeout`; and whether it settled."""
    quiet = [process for process in ctx.metrics_urls if not process.startswith(SCHEDULER)]
    deadline = time.monotonic() + timeout
    previous = await scrape(ctx)
    while True:
        await asyncio.sleep(gap)
        current = await scrape(ctx)
        if _activity(current, quiet_processes=quiet) == _activity(previous, quiet_processes=quiet):
            return current, True
        if time.monotonic() >= deadline:
            return current, False
        previous = current


async def cost(ctx: Context, *, executions: int, concurrency: int, idle_seconds: float) -> dict[str, Any]:
    """MongoDB commands and Kafka messages per execution, from the counters of all three processes.

    The executions are awaited on the events topic, not by polling the API, so no client read is counted; the
    executions are read (to check they succeeded) only after the second scrape.
    """
    progress(f"cost: creating {executions} workflows")
    workflow_ids = await _create_workflows(ctx, "cost", executions, concurrency)
    before_idle, settled_before = await _settled_scrape(ctx, gap=0.5, timeout=10.0)
    progress(f"cost: measuring the idle background for {idle_seconds:g} s")
    idle_start = time.monotonic()
    await asyncio.sleep(idle_seconds)
    before = await scrape(ctx)
    idle = time.monotonic() - idle_start
    broker_before = await _broker_requests(ctx)
    cpu_before = cpu_by_process(ctx.pids())
    missing = {name: sorted(set(before) - set(exporting(before, name))) for name in (MONGODB_COMMANDS, KAFKA_PRODUCED)}
    progress(f"cost: triggering {executions} executions")
    started = time.monotonic()
    sent = await _trigger_all(ctx, workflow_ids, concurrency)
    await ctx.watcher.wait_for([s.execution_id for s in sent], ctx.timeout)
    after, settled_after = await _settled_scrape(ctx, gap=0.5, timeout=10.0)
    window = time.monotonic() - started
    cpu = cpu_since(ctx, cpu_before)
    broker_after = await _broker_requests(ctx)
    await _fetch_succeeded(ctx, [s.execution_id for s in sent], concurrency)
    return {
        "executions": executions,
        "per_execution": {
            **cost_figures(before, after, per=executions, topic_prefix=ctx.topic_prefix),
            "kafka_requests_at_broker": broker_request_figures(broker_before, broker_after, per=executions),
            "cpu_ms": ms_per(cpu, executions),
        },
        "window_seconds": round(window, 3),
        "settled": settled_before and settled_after,
        "idle_background": {
            "seconds": round(idle, 3),
            "per_second": cost_figures(before_idle, before, per=idle, topic_prefix=ctx.topic_prefix),
        },
        "counters_not_exported_by": {name: processes for name, processes in missing.items() if processes},
    }


async def _broker_requests(ctx: Context) -> dict[str, float] | None:
    return None if ctx.broker_requests is None else await ctx.broker_requests()


SCHEDULER = "scheduler-svc"
FIRE_LATENESS = "wfa_schedule_fire_lateness_seconds"
SCHEDULE_FIRES = "wfa_schedule_fires_total"
CPU_SECONDS = "process_cpu_seconds_total"
RESIDENT_BYTES = "process_resident_memory_bytes"


async def schedule(
    ctx: Context,
    *,
    workflows: int,
    idle_workflows: int,
    seconds: float,
    min_interval: int,
    max_interval: int,
    concurrency: int,
) -> dict[str, Any]:
    """`workflows` periodic workflows (intervals spread evenly over min..max seconds, one `log` action each) fire
    on their own for `seconds`; how late the fires came, how many of the grid's slots fired, and what it cost the
    scheduler.

    `idle_workflows` more are defined first, every 365 days (none due in the window): a look's cost should not
    grow with them. The window opens once every workflow exists. Lateness is measured twice: exactly, from each
    execution (`createdAt - scheduledFor`, every execution whose slot falls in the window, read back after it),
    and by the scheduler's own histogram (an estimate within its buckets).
    """
    intervals = [min_interval + i % (max_interval - min_interval + 1) for i in range(workflows)]
    ids = [f"{ctx.run_tag}-schedule-{i:05d}" for i in range(workflows)]
    if idle_workflows:
        progress(f"schedule: creating {idle_workflows} idle workflows (every 365 days)")
        idle = [f"{ctx.run_tag}-idle-{i:05d}" for i in range(idle_workflows)]
        await bounded(
            idle, concurrency, lambda workflow_id: ctx.api.create_periodic_log_workflow(workflow_id, 365 * 86400)
        )
    progress(
        f"schedule: creating {workflows} periodic workflows, every {min_interval}-{max_interval} s, "
        f"over {max_interval} s"
    )
    # Paced over the longest interval, so that the grids' phases spread as they would for workflows created at
    # random times: created all at once, every workflow would be due within the same fraction of a second at
    # each common multiple of the intervals, a burst no real schedule shows.
    paced = time.monotonic()

    async def create(index: int) -> None:
        await asyncio.sleep(max(0.0, paced + index * max_interval / workflows - time.monotonic()))
        await ctx.api.create_periodic_log_workflow(ids[index], intervals[index])

    await bounded(range(workflows), concurrency, create)
    before = await scrape(ctx)
    servers_before = cpu_by_process(ctx.server_pids)
    start = datetime.now(UTC)
    progress(f"schedule: firing for {seconds:g} s")
    await asyncio.sleep(seconds)
    after = await scrape(ctx)
    servers_used = cpu_used(servers_before, cpu_by_process(ctx.server_pids))
    end = datetime.now(UTC)
    progress("schedule: pausing every workflow, then reading the executions back")
    paused = await bounded(ids, concurrency, ctx.api.pause)
    executions = await bounded(ids, concurrency, ctx.api.executions_of)

    expected = sum(
        slots_between(parse_timestamp(w["createdAt"]), timedelta(seconds=interval), start, end)
        for w, interval in zip(paused, intervals, strict=True)
    )
    in_window = [
        e
        for runs in executions
        for e in runs
        if e["scheduledFor"] is not None and start < parse_timestamp(e["scheduledFor"]) <= end
    ]
    lateness_ms = [
        (parse_timestamp(e["createdAt"]) - parse_timestamp(e["scheduledFor"])).total_seconds() * 1000 for e in in_window
    ]
    outcomes = {
        dict(labels).get("outcome", ""): value
        for labels, value in counter_delta(
            counter_series(before[SCHEDULER], SCHEDULE_FIRES), counter_series(after[SCHEDULER], SCHEDULE_FIRES)
        ).items()
    }
    window = (end - start).total_seconds()
    return {
        "workflows": workflows,
        "idle_workflows": idle_workflows,
        "intervals_seconds": [min_interval, max_interval],
        "window_seconds": round(window, 3),
        "fires": {
            "expected": expected,
            "fired": len(in_window),
            "skipped": int(outcomes.get("skipped", 0)),
            "not_fired": expected - len(in_window) - int(outcomes.get("skipped", 0)),
            "fired_per_second": round(len(in_window) / window, 1),
            "scheduler_outcomes": {outcome: int(count) for outcome, count in sorted(outcomes.items())},
        },
        "lateness_ms": distribution(lateness_ms),
        "lateness_histogram_ms": _histogram_figures(before[SCHEDULER], after[SCHEDULER]),
        "scheduler": _process_cost(before, after, SCHEDULER, window=window, fires=len(in_window)),
        "cpu_seconds_by_process": {
            **{process: _delta(before[process], after[process], CPU_SECONDS) for process in sorted(after)},
            # The embedded servers, read from /proc: SecantusDB near one core's worth (its ceiling) means saturated.
            **{f"{name} server": used for name, used in servers_used.items()},
        },
    }


def _histogram_figures(before: str, after: str) -> dict[str, Any]:
    observed = histogram_delta(histogram_buckets(before, FIRE_LATENESS), histogram_buckets(after, FIRE_LATENESS))
    figures: dict[str, Any] = {"count": int(observed[-1][1]) if observed else 0}
    for q in (0.5, 0.99):
        value = histogram_quantile(q, observed)
        figures[f"p{round(q * 100)}"] = None if value is None else round(value * 1000, 1)
    return figures


def _delta(before: str, after: str, sample_name: str) -> float | None:
    return seconds_between(gauge_value(before, sample_name), gauge_value(after, sample_name))


def _process_cost(before: Scrape, after: Scrape, process: str, *, window: float, fires: int) -> dict[str, Any]:
    cpu = _delta(before[process], after[process], CPU_SECONDS)
    rss = [gauge_value(scrape[process], RESIDENT_BYTES) for scrape in (before, after)]
    commands = {
        dict(labels).get("command", ""): n for labels, n in deltas(before, after, MONGODB_COMMANDS)[process].items()
    }
    return {
        "cpu_seconds": cpu,
        "cpu_percent": percent_of_core(cpu, window),
        "rss_mb": [None if value is None else round(value / 2**20, 1) for value in rss],
        "mongodb_commands_per_fire": {
            "total": round(sum(commands.values()) / fires, 2) if fires else None,
            "by_command": {name: round(n / fires, 2) for name, n in sorted(commands.items())} if fires else {},
        },
    }
