"""Throughput with several runner processes, against one runner in the same run: what does a second process buy?

The stack starts with every runner (`--runners N`); the throughput scenario runs as usual, then the extra runners
are stopped (SIGTERM: they leave the consumer group, so the one left takes every partition), a warm-up round
makes sure it consumes them all, and the scenario runs again. The extra runners are then started again for the
scenarios that follow.
"""

from __future__ import annotations

from typing import Any

from bench import scenarios
from bench.windows import ratio
from wfa_devstack import ServiceStack

WARMUP_EXECUTIONS = 20


async def _warm_up(ctx: scenarios.Context, name: str, concurrency: int) -> None:
    # Triggers land on partitions by their workflow's key: a round of them, all awaited, shows every partition is
    # consumed again after the group changed, before anything is timed.
    await scenarios.throughput(ctx, executions=WARMUP_EXECUTIONS, concurrency=concurrency, name=name)


async def throughput_by_runners(
    ctx: scenarios.Context, services: ServiceStack, *, executions: int, concurrency: int
) -> dict[str, Any]:
    """The throughput scenario with every runner, then with the first alone, and the ratio of the two."""
    extra = services.runners[1:]
    if not extra:
        return {
            "runner_processes": 1,
            **await scenarios.throughput(ctx, executions=executions, concurrency=concurrency),
        }
    await _warm_up(ctx, "warmup-all-runners", concurrency)
    with_all = await scenarios.throughput(ctx, executions=executions, concurrency=concurrency)
    scenarios.progress(f"throughput: stopping {len(extra)} runner(s) to measure one alone")
    # Blocking on purpose: the processes must be started from this (the main) thread, which they die with.
    for process in extra:
        process.terminate()
    try:
        await _warm_up(ctx, "warmup-one-runner", concurrency)
        one = await scenarios.throughput(ctx, executions=executions, concurrency=concurrency, name="throughput-1")
    finally:
        scenarios.progress(f"throughput: starting the {len(extra)} runner(s) again")
        for process in extra:
            process.start()
        for process in extra:
            process.wait_ready()
    share = ratio(one["executions_per_second"], with_all["executions_per_second"])
    return {
        "runner_processes": 1 + len(extra),
        **with_all,
        "one_runner": one,
        "ratio_to_one_runner": None if share is None else round(share, 3),
    }
