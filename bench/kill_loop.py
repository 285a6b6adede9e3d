"""`python -m bench.kill_loop`: a steady trigger load while runner processes are killed with SIGKILL again and
again, then a check of the Delivery guarantee against the API and the target server's request counts.

The load: `--workflows` manual workflows, each a `log` action then an `http-request` to a local target that
answers after `--target-delay` seconds; each workflow is triggered again as soon as its last execution finished.
Every `--saga-every`-th trigger runs a saga instead: an HTTP action with an HTTP `compensate`, an HTTP action the
target refuses for good (404), and an HTTP `onFailure` action; it must end `failed` with both handlers run.
Before each trigger the workflow's URL is changed (PUT) to a path of that trigger's own: an execution freezes its
definition when it is created, so the target's count for that path is the number of times that execution's
HTTP action really ran. Meanwhile the `--runners` runner processes are killed (SIGKILL) in turn, `--kills`
times, each started again at once.

What is checked at the end, and how it is counted:
- `lost`: accepted triggers (202) without an execution record; `stuck`: records not final when the load has
  drained; `stuck_locks`: workflows whose lock is still held.
- `doubled`: execution records no accepted trigger created, plus HTTP action runs the record does not account
  for (more requests reached the target than the action's recorded `attempts`: two runners ran it at once, or
  an action that had succeeded ran again).
- `in_flight_repeats`: extra runs the record does account for: the action was in flight when its runner was
  killed, and the runner that took the execution over ran it again (at-least-once for the one action in flight;
  its `attempts` says so).
- `actions_missing`: action runs recorded as done (succeeded or failed) that never reached the target.
- `wrong_outcome`: executions that ended otherwise than their kind promises (succeeded; a saga failed).
Progress goes to stderr; stdout carries the JSON figures, also saved with the logs under --results-dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.api import FINAL_STATUSES, Execution
from bench.cli import REPO
from bench.environment import environment
from bench.stack import running_stack
from bench.target import CountingTarget
from wfa_devstack import ServiceProcess

# Short leases, sweeps and group timings: a killed runner's work is taken over in seconds.
FAST_RECOVERY = {
    "WFA_LEASE_SECONDS": "3",
    "WFA_REDISPATCH_AFTER_SECONDS": "2",
    "WFA_REPAIR_AFTER_SECONDS": "2",
    "WFA_SWEEP_INTERVAL_SECONDS": "0.5",
    "WFA_KAFKA_SESSION_TIMEOUT_MS": "3000",
    "WFA_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
    "WFA_ALLOW_PRIVATE_NETWORKS": "true",  # the target listens on loopback
    "WFA_SHUTDOWN_GRACE_SECONDS": "5",
}
POLL_INTERVAL = 0.2


def progress(message: str) -> None:
    print(f"[kill-loop] {message}", file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.kill_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=20, help="workflows triggered side by side")
    parser.add_argument("--kills", type=int, default=24, help="SIGKILLs of a runner, in turn")
    parser.add_argument("--runners", type=int, default=2, help="runner processes")
    parser.add_argument("--kill-interval", type=float, default=1.5, help="seconds between a restart and the next kill")
    parser.add_argument("--target-delay", type=float, default=0.5, help="seconds the target takes to answer")
    parser.add_argument("--saga-every", type=int, default=3, help="every n-th trigger runs a saga (0: none)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds one execution may take to finish")
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    return parser


# -- what the load did -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    workflow_id: str
    execution_id: str
    path: str  # the target path only this execution's HTTP actions call (below it, for a saga)
    saga: bool = False


@dataclass
class LoadLog:
    accepted: list[Accepted] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # trigger answers other than 202, by status
    unfinished: list[str] = field(default_factory=list)  # executions a workflow's loop gave up waiting for


def definition(workflow_id: str, url: str, *, saga: bool = False) -> dict[str, Any]:
    def call(url: str) -> dict[str, Any]:
        return {"type": "http-request", "url": url, "method": "POST", "body": {"from": workflow_id}, "timeout": "30s"}

    if saga:
        return {
            "workflowId": workflow_id,
            "trigger": {"type": "manual"},
            "retry": {"maxAttempts": 1},
            "actions": [{**call(url), "compensate": call(f"{url}/undo")}, call(f"{url}/fail")],
            "onFailure": [call(f"{url}/notify")],
        }
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "kill loop"}, call(url)],
    }


def _runs_and_paths(record: Execution, accepted: Accepted) -> list[tuple[dict[str, Any], str]]:
    """Each HTTP action run of the record, with the target path only it calls."""
    if not accepted.saga:
        return [(record["actions"][1], accepted.path)]
    runs = [(record["actions"][0], accepted.path), (record["actions"][1], f"{accepted.path}/fail")]
    runs += [(run, f"{accepted.path}/undo") for run in record.get("compensations") or []]
    runs += [(run, f"{accepted.path}/notify") for run in record.get("onFailure") or []]
    return runs


async def _finished(http: httpx.AsyncClient, execution_id: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await http.get(f"/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] in FINAL_STATUSES:
            return True
        await asyncio.sleep(POLL_INTERVAL)
    return False


async def _drive_one(
    http: httpx.AsyncClient,
    target: CountingTarget,
    workflow_id: str,
    stop: threading.Event,
    log: LoadLog,
    within: float,
    saga_every: int,
) -> None:
    sequence = 0
    while not stop.is_set():
        sequence += 1
        path = f"/kill-loop/{workflow_id}/{sequence}"
        saga = saga_every > 0 and sequence % saga_every == 0
        updated = await http.put(f"/workflows/{workflow_id}", json=definition(workflow_id, target.url(path), saga=saga))
        if updated.status_code != 200:
            log.refused[f"put {updated.status_code}"] += 1
            await asyncio.sleep(0.5)
            continue
        response = await http.post(f"/workflows/{workflow_id}/trigger")
        if response.status_code != 202:
            log.refused[str(response.status_code)] += 1
            await asyncio.sleep(0.5)
            continue
        execution_id = response.json()["executionId"]
        log.accepted.append(Accepted(workflow_id, execution_id, path, saga))
        if not await _finished(http, execution_id, within):
            log.unfinished.append(execution_id)
            return  # its lock is held: triggering this workflow again would only be refused


async def drive(
    api_url: str,
    target: CountingTarget,
    workflow_ids: Sequence[str],
    stop: threading.Event,
    within: float,
    saga_every: int = 0,
) -> LoadLog:
    """Trigger every workflow again and again until `stop`, then let what runs finish (each execution within
    `within` seconds)."""
    log = LoadLog()
    async with httpx.AsyncClient(base_url=api_url, timeout=30.0) as http:
        for workflow_id in workflow_ids:
            created = await http.post("/workflows", json=definition(workflow_id, target.url("/kill-loop/warm-up")))
            if created.status_code != 201:
                raise RuntimeError(f"creating {workflow_id}: {created.status_code} {created.text}")
        await asyncio.gather(*(_drive_one(http, target, w, stop, log, within, saga_every) for w in workflow_ids))
    return log


# -- the verdict -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What the API and the target said once the load had drained."""

    records: Mapping[str, Sequence[Execution]]  # every execution record, per workflow
    locks: Mapping[str, str]  # trigger.status per workflow
    hits: Mapping[str, int]  # requests received per target path


def tally(log: LoadLog, observed: Observed) -> dict[str, Any]:
    """The figures of a run (see the module docstring for what each one counts)."""
    by_id = {record["executionId"]: record for records in observed.records.values() for record in records}
    accepted_ids = {accepted.execution_id for accepted in log.accepted}
    finished = stuck = lost = in_flight = unaccounted = missing = taken_over = wrong = 0
    statuses: Counter[str] = Counter()
    for accepted in log.accepted:
        record = by_id.get(accepted.execution_id)
        if record is None:
            lost += 1
            continue
        statuses[record["status"]] += 1
        if record["status"] not in FINAL_STATUSES:
            stuck += 1
            continue
        finished += 1
        runs = _runs_and_paths(record, accepted)
        if any(run["attempts"] > 1 for run, _ in runs):
            taken_over += 1
        if record["status"] != ("failed" if accepted.saga else "succeeded") or (accepted.saga and len(runs) != 4):
            wrong += 1
        for run, path in runs:
            hits = observed.hits.get(path, 0)
            in_flight += max(0, min(hits, run["attempts"]) - 1)
            unaccounted += max(0, hits - run["attempts"])
            if run["status"] in ("succeeded", "failed") and hits == 0:
                missing += 1
    extra_records = sum(1 for execution_id in by_id if execution_id not in accepted_ids)
    return {
        "triggers_accepted": len(log.accepted),
        "triggers_refused": dict(log.refused),
        "executions_finished": finished,
        "executions_by_status": dict(statuses),
        "lost": lost,
        "stuck": stuck,
        "stuck_locks": sum(1 for status in observed.locks.values() if status != "idle"),
        "doubled": extra_records + unaccounted,
        "doubled_detail": {"extra_execution_records": extra_records, "unaccounted_action_runs": unaccounted},
        "in_flight_repeats": in_flight,
        "executions_taken_over": taken_over,
        "actions_missing": missing,
        "sagas": sum(1 for accepted in log.accepted if accepted.saga),
        "wrong_outcome": wrong,
    }


async def observe(api_url: str, target: CountingTarget, workflow_ids: Sequence[str]) -> Observed:
    records: dict[str, list[Execution]] = {}
    locks: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=api_url, timeout=30.0) as http:
        for workflow_id in workflow_ids:
            items: list[Execution] = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                page = (await http.get(f"/workflows/{workflow_id}/executions", params=params)).json()
                items += page["items"]
                cursor = page["nextCursor"]
                if cursor is None:
                    break
            records[workflow_id] = items
            locks[workflow_id] = (await http.get(f"/workflows/{workflow_id}")).json()["trigger"]["status"]
    return Observed(records, locks, target.counts())


# -- the run ---------------------------------------------------------------------------------------------------


def kill_in_turn(runners: Sequence[ServiceProcess], kills: int, interval: float, start_timeout: float) -> list[str]:
    """SIGKILL the runners in turn, each started again at once; how each one ended. Runs on the main thread: the
    services die with the thread that started them."""
    endings: list[str] = []
    for n in range(kills):
        time.sleep(interval)
        runner = runners[n % len(runners)]
        runner.kill()
        endings.append(runner.exit_reason() or "still running")
        runner.start().wait_ready(start_timeout)
        progress(f"kill {n + 1}/{kills}: {runner.log_path.stem} {endings[-1]}, restarted")
    return endings


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    target = CountingTarget(delay=args.target_delay).start()
    tag = run_dir.name.lower()
    workflow_ids = [f"kill-loop-{tag}-{n:02d}" for n in range(args.workflows)]
    try:
        with running_stack(
            run_dir, start_timeout=args.start_timeout, extra_env=FAST_RECOVERY, runners=args.runners
        ) as stack:
            stop = threading.Event()
            outcome: dict[str, LoadLog | BaseException] = {}

            def load() -> None:
                try:
                    outcome["log"] = asyncio.run(
                        drive(stack.api_url, target, workflow_ids, stop, args.timeout, args.saga_every)
                    )
                except BaseException as exc:
                    outcome["log"] = exc

            started = time.monotonic()
            driver = threading.Thread(target=load, name="kill-loop-load")
            driver.start()
            try:
                endings = kill_in_turn(stack.services.runners, args.kills, args.kill_interval, args.start_timeout)
            finally:
                stop.set()
                progress("kills done; letting the executions in flight finish")
                driver.join()
            seconds = time.monotonic() - started
            log = outcome["log"]
            if isinstance(log, BaseException):
                raise log
            observed = asyncio.run(observe(stack.api_url, target, workflow_ids))
            stack.services.check_running()
    finally:
        target.stop()
    return {
        "kills": len(endings),
        "kill_endings": dict(Counter(endings)),
        "runners": args.runners,
        "workflows": args.workflows,
        **tally(log, observed),
        "seconds": round(seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = datetime.now(UTC)
    run_dir: Path = args.results_dir / f"kill-loop-{started.strftime('%Y%m%dT%H%M%SZ')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "environment": environment(REPO),
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "logs": str(run_dir),
    }
    code = 0
    try:
        report["figures"] = run(args, run_dir)
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    document = json.dumps(report, indent=2)
    (run_dir / "results.json").write_text(document + "\n")
    print(document)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
