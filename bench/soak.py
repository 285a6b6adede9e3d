"""The soak scenario: a steady mixed load for a long time, reported window by window, to see whether anything
drifts (latency, memory, the database's own command latency) as the run goes on.

The load: `periodic` workflows firing every second on their own, and `rate` manual triggers a second, paced,
each on a workflow of a pool whose last execution has finished (so no trigger meets a held lock). Measured
meanwhile, each sample stamped with its offset from the start, then cut into windows (bench.windows):
- trigger latency: trigger sent -> its final event read on the execution-events topic;
- executions finished: final events read (manual and periodic alike);
- fire lateness: `createdAt - scheduledFor` of every periodic execution, read back through the API;
- RSS and CPU of every service process and embedded server, from /proc;
- the database's own latency: a probe times an `update_one` by _id and a `find_one` on a tiny collection of
  the bench's own, every few seconds.
Nothing here asserts a time: the verdicts (bench.windows) are figures of the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench.api import BenchError, parse_timestamp
from bench.scenarios import Context, bounded, progress
from bench.stack import cpu_seconds, percent_of_core, rss_bytes
from bench.stats import distribution
from bench.windows import (
    Sample,
    increase_per_window,
    last_per_window,
    latency_verdict,
    per_process,
    rss_verdict,
    split,
    window_count,
)
from wfa.adapters.mongo.documents import ID, Document

PROBE_COLLECTION = "bench_probe"
PROBE_DOCUMENTS = 10
PROBE_INTERVAL = 3.0
PROCESS_SAMPLE_INTERVAL = 5.0
SERVER_SUFFIX = " server"  # how bench.stack.process_pids names the embedded servers
POOL_SECONDS = 10  # the manual pool holds this many seconds' worth of triggers


@dataclass(frozen=True)
class Settings:
    seconds: float
    window_seconds: float
    periodic: int = 20
    rate: float = 5.0  # manual triggers a second


@dataclass
class _Log:
    triggers: list[Sample] = field(default_factory=list)  # (offset sent, ms to the final event)
    refused: Counter[str] = field(default_factory=Counter)  # by the status the API answered
    no_free_workflow: int = 0
    unfinished: int = 0  # accepted, but no final event within the timeout
    fires: list[Sample] = field(default_factory=list)  # (offset created, lateness ms)
    probes: dict[str, list[Sample]] = field(default_factory=lambda: {"update_one": [], "find_one": []})
    rss: dict[str, list[Sample]] = field(default_factory=dict)
    cpu: dict[str, list[Sample]] = field(default_factory=dict)


class _Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.start_wall = datetime.now(UTC)

    def offset(self) -> float:
        return time.monotonic() - self.start

    def offset_of(self, moment: datetime) -> float:
        return (moment - self.start_wall).total_seconds()


async def _sleep_until(clock: _Clock, offset: float) -> None:
    await asyncio.sleep(max(0.0, offset - clock.offset()))


async def _trigger_loop(ctx: Context, pool: list[str], settings: Settings, clock: _Clock, log: _Log) -> None:
    free: asyncio.Queue[str] = asyncio.Queue()
    for workflow_id in pool:
        free.put_nowait(workflow_id)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(workflow_id: str) -> None:
        sent = clock.offset()
        try:
            try:
                execution_id = await ctx.api.trigger(workflow_id)
            except BenchError as exc:
                status = re.search(r"answered (\d+)", str(exc))
                log.refused[status.group(1) if status else "error"] += 1
                return
            try:
                events = await ctx.watcher.wait_for([execution_id], ctx.timeout)
            except BenchError:
                log.unfinished += 1
                return
            log.triggers.append((sent, (events[execution_id].seen_at - clock.start - sent) * 1000))
        finally:
            free.put_nowait(workflow_id)

    total = int(settings.seconds * settings.rate)
    for index in range(total):
        await _sleep_until(clock, index / settings.rate)
        if clock.offset() >= settings.seconds:
            break
        try:
            workflow_id = free.get_nowait()
        except asyncio.QueueEmpty:
            log.no_free_workflow += 1
            continue
        task = asyncio.create_task(one(workflow_id))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        # Each waits at most ctx.timeout for its event; this bound only guards against a hang elsewhere.
        _, pending = await asyncio.wait(set(in_flight), timeout=ctx.timeout + 60)
        log.unfinished += len(pending)
        for task in pending:
            task.cancel()


async def _read_fires(ctx: Context, periodic: list[str], since: dict[str, datetime], clock: _Clock, log: _Log) -> None:
    async def read(workflow_id: str) -> None:
        executions = await ctx.api.executions_since(workflow_id, since[workflow_id])
        for execution in executions:
            created = parse_timestamp(execution["createdAt"])
            if execution.get("scheduledFor"):
                lateness = (created - parse_timestamp(execution["scheduledFor"])).total_seconds() * 1000
                log.fires.append((clock.offset_of(created), lateness))
        if executions:
            since[workflow_id] = max(parse_timestamp(e["createdAt"]) for e in executions)

    await bounded(periodic, 4, read)


async def _every(
    interval: float, until: float, clock: _Clock, step: Callable[[], Awaitable[None]], *, immediately: bool = True
) -> None:
    """`await step()` every `interval` seconds until the offset `until`."""
    tick = 0 if immediately else 1
    while tick * interval < until:
        await _sleep_until(clock, tick * interval)
        await step()
        tick += 1


def _sample_processes(pids: Mapping[str, int], clock: _Clock, log: _Log) -> None:
    offset = clock.offset()
    for name, pid in pids.items():
        rss, cpu = rss_bytes(pid), cpu_seconds(pid)
        if rss is not None:
            log.rss.setdefault(name, []).append((offset, rss / 2**20))
        if cpu is not None:
            log.cpu.setdefault(name, []).append((offset, cpu))


async def soak(
    ctx: Context, *, mongo_url: str, settings: Settings, pids: Callable[[], Mapping[str, int]]
) -> dict[str, Any]:
    """Run the load for `settings.seconds` and report it per window of `settings.window_seconds`.
    `pids()` gives the processes to sample, `{name: pid}`, at each sample (a restarted one has a new pid)."""
    periodic = [f"{ctx.run_tag}-soak-periodic-{i:03d}" for i in range(settings.periodic)]
    pool = [f"{ctx.run_tag}-soak-manual-{i:03d}" for i in range(max(1, int(settings.rate * POOL_SECONDS)))]
    progress(f"soak: creating {len(periodic)} periodic workflows (every 1 s) and {len(pool)} manual ones")
    await bounded(pool, 8, ctx.api.create_log_workflow)
    created = await bounded(periodic, 8, lambda workflow_id: ctx.api.create_periodic_log_workflow(workflow_id, 1))
    since = {w["workflowId"]: parse_timestamp(w["createdAt"]) - timedelta(seconds=1) for w in created}
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    probe = client.get_default_database()[PROBE_COLLECTION]
    await probe.insert_many([{ID: f"probe-{i}", "n": 0} for i in range(PROBE_DOCUMENTS)])
    log = _Log()
    clock = _Clock()
    probe_tick = 0

    async def probe_once() -> None:
        nonlocal probe_tick
        probe_tick += 1
        target = f"probe-{probe_tick % PROBE_DOCUMENTS}"
        sent = time.monotonic()
        await probe.update_one({ID: target}, {"$inc": {"n": 1}})
        updated = time.monotonic()
        await probe.find_one({ID: target})
        offset = sent - clock.start
        log.probes["update_one"].append((offset, (updated - sent) * 1000))
        log.probes["find_one"].append((offset, (time.monotonic() - updated) * 1000))

    async def sample() -> None:
        _sample_processes(pids(), clock, log)

    async def fires() -> None:
        await _read_fires(ctx, periodic, since, clock, log)

    progress(
        f"soak: {settings.seconds:g} s of load, windows of {settings.window_seconds:g} s, {settings.rate:g} triggers/s"
    )
    try:
        await asyncio.gather(
            _trigger_loop(ctx, pool, settings, clock, log),
            _every(PROBE_INTERVAL, settings.seconds, clock, probe_once),
            # A sample at the very end too: the last window's RSS is the memory the run ends with.
            _every(PROCESS_SAMPLE_INTERVAL, settings.seconds + PROCESS_SAMPLE_INTERVAL, clock, sample),
            _every(min(settings.window_seconds, 30.0), settings.seconds, clock, fires, immediately=False),
        )
    finally:
        with contextlib.suppress(Exception):
            await probe.drop()
        await client.close()
    await fires()
    progress("soak: pausing the periodic workflows")
    await bounded(periodic, 8, ctx.api.pause)
    finished = [(event.seen_at - clock.start, 1.0) for event in ctx.watcher.finals() if event.seen_at >= clock.start]
    return report(log, finished, settings)


def report(log: _Log, finished: list[Sample], settings: Settings) -> dict[str, Any]:
    """The soak's figures per window and its verdicts, from what the run recorded."""
    length = settings.window_seconds
    count = window_count(settings.seconds, length)
    latency = split(log.triggers, length, count)
    lateness = split(log.fires, length, count)
    done = split(finished, length, count)
    probes = {name: split(samples, length, count) for name, samples in log.probes.items()}
    rss = per_process(log.rss, last_per_window, length, count)
    cpu = per_process(log.cpu, increase_per_window, length, count)
    windows: list[dict[str, Any]] = []
    for index in range(count):
        seconds = min(length, settings.seconds - index * length)
        windows.append(
            {
                "window": index + 1,
                "from_seconds": round(index * length, 1),
                "seconds": round(seconds, 1),
                "triggers": len(latency[index]),
                "trigger_latency_ms": distribution(latency[index]),
                "executions_finished": len(done[index]),
                "executions_per_second": round(len(done[index]) / seconds, 1),
                "fires": len(lateness[index]),
                "fire_lateness_ms": distribution(lateness[index]),
                "db_probe_ms": {name: distribution(values[index], digits=2) for name, values in probes.items()},
                "rss_mb": {name: None if mb is None else round(mb, 1) for name, mb in rss[index].items()},
                "cpu_percent": {name: percent_of_core(used, seconds) for name, used in cpu[index].items()},
            }
        )
    first, last = windows[0], windows[-1]
    return {
        "seconds": settings.seconds,
        "window_seconds": length,
        "periodic_workflows": settings.periodic,
        "triggers_per_second": settings.rate,
        "triggers": len(log.triggers),
        "triggers_refused": dict(sorted(log.refused.items())),
        "triggers_skipped_no_free_workflow": log.no_free_workflow,
        "triggers_unfinished": log.unfinished,
        "windows": windows,
        "verdicts": {
            "windows_compared": [first["window"], last["window"]],
            "trigger_latency": latency_verdict(first["trigger_latency_ms"], last["trigger_latency_ms"]),
            # The embedded servers keep every document and message in memory: they grow with the data by design,
            # so only the services are judged; the servers' growth is shown beside.
            "rss": rss_verdict(_services(first["rss_mb"]), _services(last["rss_mb"])),
            "rss_servers_growth": rss_verdict(_servers(first["rss_mb"]), _servers(last["rss_mb"]))["growth"],
        },
    }


def _servers(by_process: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in by_process.items() if name.endswith(SERVER_SUFFIX)}


def _services(by_process: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in by_process.items() if not name.endswith(SERVER_SUFFIX)}
