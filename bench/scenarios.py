"""The three scenarios: latency (one at a time), throughput (many at once) and cost (counters per execution)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bench.api import BenchError, Execution, WorkflowsApi, finished_at, require_succeeded, server_latency_ms
from bench.cost import KAFKA_PRODUCED, MONGODB_COMMANDS, Scrape, cost_figures, exporting
from bench.events import FinalEventWatcher
from bench.promtext import counter_series
from bench.stats import distribution

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
    for i in range(warmup + executions):
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


async def throughput(ctx: Context, *, executions: int, concurrency: int) -> dict[str, Any]:
    """Trigger `executions` workflows at once (at most `concurrency` requests in flight) and wait for them all."""
    progress(f"throughput: creating {executions} workflows")
    workflow_ids = await _create_workflows(ctx, "throughput", executions, concurrency)
    progress(f"throughput: triggering {executions} executions, {concurrency} requests in flight")
    start = time.monotonic()
    sent = await _trigger_all(ctx, workflow_ids, concurrency)
    triggered = time.monotonic()
    finals = await ctx.watcher.wait_for([s.execution_id for s in sent], ctx.timeout)
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
    quiet = [process for process in ctx.metrics_urls if process != "scheduler-svc"]
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
    missing = {name: sorted(set(before) - set(exporting(before, name))) for name in (MONGODB_COMMANDS, KAFKA_PRODUCED)}
    progress(f"cost: triggering {executions} executions")
    started = time.monotonic()
    sent = await _trigger_all(ctx, workflow_ids, concurrency)
    await ctx.watcher.wait_for([s.execution_id for s in sent], ctx.timeout)
    after, settled_after = await _settled_scrape(ctx, gap=0.5, timeout=10.0)
    window = time.monotonic() - started
    await _fetch_succeeded(ctx, [s.execution_id for s in sent], concurrency)
    return {
        "executions": executions,
        "per_execution": cost_figures(before, after, per=executions, topic_prefix=ctx.topic_prefix),
        "window_seconds": round(window, 3),
        "settled": settled_before and settled_after,
        "idle_background": {
            "seconds": round(idle, 3),
            "per_second": cost_figures(before_idle, before, per=idle, topic_prefix=ctx.topic_prefix),
        },
        "counters_not_exported_by": {name: processes for name, processes in missing.items() if processes},
    }
