"""`python -m bench`: start the stack, run the chosen scenarios, print one JSON document, save it.

Progress goes to stderr; stdout carries only the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import traceback
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import history, micro, scenarios, soak
from bench.api import WorkflowsApi
from bench.environment import environment, shown_address
from bench.events import FinalEventWatcher
from bench.otlp_sink import OtlpSink
from bench.scale import throughput_by_runners
from bench.stack import Stack, process_pids, running_stack

SCENARIOS = ("latency", "throughput", "cost", "micro", "schedule", "soak", "history")
# `schedule`, `soak` and `history` run for minutes and fill the database with executions, so they run only when
# asked for (and last, so that what they leave behind cannot slow the others down; `history` stores the most).
DEFAULT_SCENARIOS = ("latency", "throughput", "cost")
REPO = Path(__file__).resolve().parent.parent


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        choices=SCENARIOS,
        help="run this scenario (repeatable; default: latency, throughput and cost; the others only when named; "
        "always in the order listed)",
    )
    parser.add_argument(
        "--runners",
        type=_positive_int,
        default=1,
        help="runner processes (throughput: > 1 also measures one alone, and the ratio)",
    )
    parser.add_argument("--schedulers", type=_positive_int, default=1, help="scheduler processes")
    parser.add_argument("--latency-executions", type=_positive_int, default=100)
    parser.add_argument("--latency-warmup", type=_non_negative_int, default=3, help="executions run first, not counted")
    parser.add_argument("--poll-interval-ms", type=_positive_float, default=10.0, help="latency: GET interval")
    parser.add_argument("--throughput-executions", type=_positive_int, default=200)
    parser.add_argument("--cost-executions", type=_positive_int, default=100)
    parser.add_argument("--concurrency", type=_positive_int, default=32, help="client requests in flight at most")
    parser.add_argument("--idle-seconds", type=_positive_float, default=5.0, help="cost: idle window measured first")
    parser.add_argument("--schedule-workflows", type=_positive_int, default=1000, help="schedule: periodic workflows")
    parser.add_argument("--schedule-seconds", type=_positive_float, default=60.0, help="schedule: window measured")
    parser.add_argument(
        "--schedule-intervals",
        type=_interval_range,
        default=(1, 10),
        metavar="MIN-MAX",
        help="schedule: intervals in whole seconds, spread evenly over this range (default 1-10)",
    )
    parser.add_argument(
        "--schedule-idle-workflows",
        type=_non_negative_int,
        default=0,
        help="schedule: periodic workflows also defined, none due in the window (every 365 days)",
    )
    parser.add_argument("--soak-minutes", type=_positive_float, default=30.0, help="soak: how long the load runs")
    parser.add_argument("--soak-window-seconds", type=_positive_float, default=300.0, help="soak: window length")
    parser.add_argument("--soak-periodic", type=_positive_int, default=20, help="soak: workflows firing every 1 s")
    parser.add_argument("--soak-rate", type=_positive_float, default=5.0, help="soak: manual triggers a second")
    parser.add_argument(
        "--history-executions", type=_positive_int, default=50_000, help="history: finished executions stored"
    )
    parser.add_argument("--micro-calls", type=_positive_int, default=2000, help="micro: calls per command and level")
    parser.add_argument("--micro-seconds", type=_positive_float, default=10.0, help="micro: at most, per command")
    parser.add_argument("--micro-concurrency", type=_positive_int, default=16, help="micro: calls in flight")
    parser.add_argument("--micro-batch", type=_positive_int, default=32, help="micro: documents per bulk call")
    parser.add_argument("--micro-preload", type=_positive_int, default=5000, help="micro: documents read/updated")
    parser.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds any one wait may take")
    parser.add_argument("--start-timeout", type=_positive_float, default=120.0, help="seconds to start each part")
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--service-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the three services (repeatable), such as OTEL_TRACES_EXPORTER=console",
    )
    parser.add_argument(
        "--mongo-url",
        help="use this running MongoDB (a replica set, say: ./start-deps.sh) instead of an embedded SecantusDB; "
        "the run gets a database of its own there and drops nothing",
    )
    parser.add_argument(
        "--kafka-bootstrap",
        metavar="HOST:PORT",
        help="use this running Kafka instead of an embedded Tansu; the run gets topics of its own there",
    )
    parser.add_argument(
        "--otlp-sink",
        action="store_true",
        help="the services export their spans over OTLP/HTTP to a stand-in receiver in this process "
        "(OTEL_TRACES_EXPORTER=otlp); the report's otlp_sink counts what it received",
    )
    return parser


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _interval_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX in seconds, such as 1-10, got {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX, got {text!r}")
    return bounds


def chosen(args: argparse.Namespace) -> list[str]:
    """The scenarios to run, in the canonical order, each once."""
    wanted = set(args.scenarios or DEFAULT_SCENARIOS)
    return [name for name in SCENARIOS if name in wanted]


async def run_scenarios(stack: Stack, args: argparse.Namespace, figures: dict[str, Any], broker: OtlpSink) -> None:
    """Run the chosen scenarios, storing each one's figures in `figures` as soon as it is done."""
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    timeout = httpx.Timeout(30.0)
    watcher = FinalEventWatcher(stack.kafka_bootstrap, stack.events_topic)
    await watcher.start(timeout=args.start_timeout)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=timeout) as http:
            ctx = scenarios.Context(
                api=WorkflowsApi(http),
                http=http,
                watcher=watcher,
                metrics_urls=stack.metrics_urls,
                topic_prefix=stack.topic_prefix,
                run_tag=f"bench-{uuid.uuid4().hex[:6]}",
                timeout=args.timeout,
                server_pids=stack.server_pids,
                pids=functools.partial(process_pids, stack.services, stack.server_pids),
                # Only the embedded broker exports its counters to the bench.
                broker_requests=None if args.kafka_bootstrap else broker.fresh_broker_requests,
            )
            for name in chosen(args):
                if name == "latency":
                    figures[name] = await scenarios.latency(
                        ctx,
                        executions=args.latency_executions,
                        warmup=args.latency_warmup,
                        poll_interval=args.poll_interval_ms / 1000,
                    )
                elif name == "throughput":
                    figures[name] = await throughput_by_runners(
                        ctx, stack.services, executions=args.throughput_executions, concurrency=args.concurrency
                    )
                elif name == "cost":
                    figures[name] = await scenarios.cost(
                        ctx,
                        executions=args.cost_executions,
                        concurrency=args.concurrency,
                        idle_seconds=args.idle_seconds,
                    )
                elif name == "schedule":
                    low, high = args.schedule_intervals
                    figures[name] = await scenarios.schedule(
                        ctx,
                        workflows=args.schedule_workflows,
                        idle_workflows=args.schedule_idle_workflows,
                        seconds=args.schedule_seconds,
                        min_interval=low,
                        max_interval=high,
                        concurrency=args.concurrency,
                    )
                elif name == "micro":
                    settings = micro.Settings(
                        calls=args.micro_calls,
                        seconds=args.micro_seconds,
                        concurrency=args.micro_concurrency,
                        batch=args.micro_batch,
                        preload=args.micro_preload,
                    )
                    figures[name] = await micro.micro(stack.mongo_url, settings=settings, server_pids=stack.server_pids)
                elif name == "soak":
                    figures[name] = await soak.soak(
                        ctx,
                        mongo_url=stack.mongo_url,
                        settings=soak.Settings(
                            seconds=args.soak_minutes * 60,
                            window_seconds=args.soak_window_seconds,
                            periodic=args.soak_periodic,
                            rate=args.soak_rate,
                        ),
                        pids=ctx.pids,
                    )
                elif name == "history":
                    figures[name] = await history.history(
                        ctx,
                        mongo_url=stack.mongo_url,
                        executions=args.throughput_executions,
                        history_executions=args.history_executions,
                        concurrency=args.concurrency,
                    )
                stack.services.check_running()
    finally:
        await watcher.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    run_dir: Path = args.results_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    report: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "environment": environment(REPO, mongo_url=args.mongo_url, kafka_bootstrap=args.kafka_bootstrap),
        "settings": {
            **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            "mongo_url": None if args.mongo_url is None else shown_address(args.mongo_url),
        },
        "scenarios": figures,
        "logs": str(run_dir),
    }
    code = 0
    service_env = dict(args.service_env)
    # Receives the broker's own counters always, and the services' spans with --otlp-sink.
    sink = OtlpSink().start()
    if args.otlp_sink:
        service_env.update(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint)
    try:
        with running_stack(
            run_dir,
            start_timeout=args.start_timeout,
            extra_env=service_env,
            runners=args.runners,
            schedulers=args.schedulers,
            broker_metrics_endpoint=sink.endpoint,
            mongo_url=args.mongo_url,
            kafka_bootstrap=args.kafka_bootstrap,
        ) as stack:
            try:
                asyncio.run(run_scenarios(stack, args, figures, sink))
            except BaseException:
                print(stack.services.logs(60), file=sys.stderr)
                raise
    except KeyboardInterrupt:
        report["error"] = "interrupted"
        code = 130
    except Exception as exc:
        traceback.print_exc()
        report["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    sink.stop()  # after the services stopped, so their last spans, flushed on exit, are counted
    if args.otlp_sink:
        report["otlp_sink"] = sink.stats()
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    document = json.dumps(report, indent=2)
    (run_dir / "results.json").write_text(document + "\n")
    print(document)
    print(f"[bench] saved to {run_dir / 'results.json'}", file=sys.stderr)
    return code
