"""The components of the three services in one event loop over one real MongoStore, each of them a "process" a
fault can kill, and the recovery that later processes perform.

- Every repository the components get is `Faulty`: its writes count towards the plan's k-th write.
- A component's call (`World.call`) is one process doing one piece of work: a Crash ends it there (nothing after
  it runs), a DependencyUnavailable fails it as MongoDB's outage would. The next call is a new process.
- Requests for the runner land on `Bus`; the scenario delivers each once, recovery redelivers every request
  ever published, twice and side by side, as a Kafka consumer group may after crashes and rebalances.
- `TrackedActions` is every action's runner: it records each run and notes two guarantees as they are broken
  (an action of a workflow starting while another is in flight; an action starting although its execution's
  record already says it succeeded), and which executions waited for a slot as each run started (whenBusy: queue).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry
from tests.integration.fault_injection.faults import Crash, FaultPlan, Faulty, component

from wfa.adapters.mongo import MongoStore
from wfa.domain.clock import FakeClock
from wfa.domain.errors import ActionFailed, DependencyUnavailable, TriggerLocked
from wfa.domain.execution import ActionStatus, Execution
from wfa.domain.schedule import first_fire
from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.events import Event, ExecutionRequest
from wfa.ports.repositories import ExecutionFilter
from wfa.service_layer.triggering import Triggering, TriggerResult, fire_schedule, start_waiting, trigger_manually
from wfa_runner.actions.base import ActionSpec, Output
from wfa_runner.execution_runner import ExecutionRunner, RunOutcome
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair
from wfa_scheduler.retries import Retries
from wfa_workflows.use_cases import WorkflowUseCases

T = TypeVar("T")

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
WORKFLOW_ID = "wf"
LEASE = timedelta(seconds=30)
REDISPATCH_AFTER = timedelta(seconds=10)
REPAIR_AFTER = timedelta(seconds=10)
# Recovery starts this much later: past every lease and both repair horizons, and past one more slot of the
# scheduled scenario's 10-minute grid, so that recovery also fires the schedule once.
RECOVERY_JUMP = timedelta(minutes=10, seconds=1)
# Between recovery rounds: longer than a lease and than any backoff the scenarios use, so each round sees the
# leases of the last one expired and every retry due.
ROUND_STEP = LEASE + timedelta(seconds=1)
MAX_ROUNDS = 8
POLL_DEADLINE = 5.0


class Hang:
    """A step that never ends by itself: the action is in flight until its process is killed."""


Step = Output | ActionFailed | asyncio.Event | Hang
"""What one run of an action does: succeed with an output, fail, wait for the event (then succeed), or hang."""


class Gates(defaultdict[str, asyncio.Event]):
    """Events by name, made on first use: what a scenario opens to let a waiting action finish."""

    def __init__(self) -> None:
        super().__init__(asyncio.Event)


Script = Callable[[Gates, str, str, int], Step]
"""(gates, execution id, action name, which run of that action in that execution: 1, 2, ...) → what it does."""


def succeed(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    return {"ok": action}


@dataclass(frozen=True)
class Start:
    """One run of an action as it started, and the executions then waiting for a slot (read once it was in flight,
    so after its execution took its slot)."""

    execution_id: str
    action: str
    waiting: tuple[str, ...]


class TrackedActions:
    """The action runner of every runner process: does what the script says and watches the guarantees."""

    def __init__(self, store: MongoStore, script: Script) -> None:
        self._store = store
        self._script = script
        self.runs: dict[tuple[str, str], list[str]] = {}  # (execution, action) → outcome of each run, in order
        self.in_flight: dict[str, set[tuple[str, str]]] = {}  # workflow → (execution, action) running now
        self.starts: list[Start] = []  # every run, in the order the runs started
        self.violations: list[str] = []
        self.limit = 1  # the workflow's concurrency limit: how many executions may run actions at once
        self.gates = Gates()
        self.opened = False

    def running(self, execution_id: str, action: str) -> bool:
        return any((execution_id, action) in keys for keys in self.in_flight.values())

    def release_gates(self) -> None:
        """From now on no action waits: recovery runs everything to its end."""
        self.opened = True
        for gate in self.gates.values():
            gate.set()

    async def run(self, spec: ActionSpec, context: TemplateContext) -> Output:
        bound = structlog.contextvars.get_contextvars()
        execution_id, workflow_id, name = bound["execution_id"], bound["workflow_id"], spec.name or ""
        key = (execution_id, name)
        runs = self.runs.setdefault(key, [])
        runs.append("running")
        number = len(runs)
        others = self.in_flight.setdefault(workflow_id, set())
        if len({other for other, _ in others} | {execution_id}) > self.limit:
            self.violations.append(
                f"{execution_id}.{name} started while {sorted(others)} were in flight (limit {self.limit})"
            )
        others.add(key)
        start = len(self.starts)
        self.starts.append(Start(execution_id, name, ()))
        try:
            # The record as stored, read while this run is already in flight (so that a concurrent start shows).
            # Shielded: a kill arriving during the read was seen to be lost inside the driver, leaving the action
            # to go on into a Hang that nothing would end.
            recorded, workflow = await asyncio.shield(
                asyncio.gather(self._store.executions.get(execution_id), self._store.workflows.get(workflow_id))
            )
            self.starts[start] = Start(execution_id, name, tuple(workflow.trigger.waiting))
            if any(run.name == name and run.status is ActionStatus.SUCCEEDED for run in recorded.every_run()):
                self.violations.append(f"{execution_id}.{name} ran again although its record says it succeeded")
            step = self._script(self.gates, execution_id, name, number)
            if isinstance(step, Hang):
                await asyncio.Future()
            if isinstance(step, asyncio.Event):
                if not self.opened:
                    await step.wait()
                step = {"ok": name}
            if isinstance(step, ActionFailed):
                runs[number - 1] = "failed"
                raise step
            assert isinstance(step, dict)
            runs[number - 1] = "succeeded"
            return step
        except asyncio.CancelledError:
            runs[number - 1] = "killed"
            raise
        finally:
            others.discard(key)


class Bus:
    """The execution-requests topic: everything ever published, in order."""

    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []
        self.delivered = 0  # how many the scenario has handed to runners (recovery ignores this)

    async def publish(self, request: ExecutionRequest) -> None:
        self.sent.append(request)

    def undelivered(self) -> list[ExecutionRequest]:
        fresh = self.sent[self.delivered :]
        self.delivered = len(self.sent)
        return fresh


class NoEvents:
    async def publish_event(self, event: Event) -> None:
        return None


@dataclass
class World:
    store: MongoStore
    plan: FaultPlan
    script: Script
    clock: FakeClock = field(default_factory=lambda: FakeClock(START))
    bus: Bus = field(default_factory=Bus)
    accepted: list[str] = field(default_factory=list)  # executions whose trigger returned to its caller
    # Every execution id handed out, in order. Triggers and fires are made one after another, and each id is handed
    # out just before the write that decides its execution (the lock's take, the queue's join): the order of this
    # list is the order in which executions joined a queue.
    issued: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # executions whose cancel returned to its caller
    trigger_calls: int = 0
    kills: int = 0  # runner processes the scenario killed on purpose (besides the fault)
    settled: bool = False
    failures: list[str] = field(default_factory=list)  # what the fault did to each call, for the report
    _ids: int = 0
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.actions = TrackedActions(self.store, self.script)
        self.workflows = Faulty(self.store.workflows, self.plan)
        self.executions = Faulty(self.store.executions, self.plan)

    # -- the components ---------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._ids += 1
        self.issued.append(f"e{self._ids}")
        return self.issued[-1]

    def triggering(self) -> Triggering:
        return Triggering(
            workflows=self.workflows,
            executions=self.executions,
            publisher=self.bus,
            clock=self.clock,
            new_id=self._new_id,
        )

    def runner(self, owner: str) -> ExecutionRunner:
        return ExecutionRunner(
            workflows=self.workflows,
            executions=self.executions,
            actions={"log": self.actions, "http-request": self.actions},
            events=LifecycleEvents(NoEvents()),
            clock=self.clock,
            owner=owner,
            lease=LEASE,
            # Writes retried at once: with the clock standing still, a wait would only slow the test down.
            write_retry_delays=(0.0,),
            start_waiting=partial(start_waiting, self.triggering()),
        )

    def api(self) -> WorkflowUseCases:
        return WorkflowUseCases(triggering=self.triggering(), versions=self.store.versions)

    def repair(self) -> Repair:
        return Repair(
            self.triggering(),
            metrics=SchedulerMetrics(CollectorRegistry()),
            batch=100,
            redispatch_after=REDISPATCH_AFTER,
            repair_after=REPAIR_AFTER,
            interval=timedelta(seconds=1),
        )

    def retries(self) -> Retries:
        return Retries(self.triggering(), metrics=SchedulerMetrics(CollectorRegistry()), batch=100)

    async def call(self, who: str, work: Coroutine[Any, Any, T]) -> T | None:
        """One process's piece of work; None when a crash or an outage ended it."""
        token = component.set(who)
        try:
            return await work
        except Crash as crash:
            self.failures.append(f"{who} crashed at {crash}")
        except DependencyUnavailable as outage:
            self.failures.append(f"{who} failed: {outage}")
        finally:
            component.reset(token)
        return None

    # -- what the scenarios do --------------------------------------------------------------------------

    async def add_workflow(self, body: dict[str, Any]) -> Workflow:
        """Stored directly, outside the counted writes: creating the workflow is not what is under test."""
        definition = WorkflowDefinition.model_validate({"workflowId": WORKFLOW_ID, **body})
        self.actions.limit = definition.concurrency.limit
        now = self.clock.now()
        workflow = Workflow.create(definition, now=now, next_run_at=first_fire(definition.trigger, now))
        await self.store.workflows.add(workflow)
        return workflow

    async def trigger(self, who: str) -> TriggerResult | None:
        """A client's manual trigger; None when it was refused (409) or failed (the client saw an error)."""
        self.trigger_calls += 1
        try:
            result = await self.call(who, trigger_manually(self.triggering(), WORKFLOW_ID))
        except TriggerLocked:
            return None
        if result is not None:
            self.accepted.append(result.execution.execution_id)
        return result

    async def cancel(self, who: str, execution_id: str) -> None:
        cancelled = await self.call(who, self.api().cancel_execution(execution_id))
        if cancelled is not None:
            self.cancelled.append(execution_id)

    async def fire_due(self) -> None:
        deps = self.triggering()
        for workflow in await deps.workflows.due_for_schedule(now=self.clock.now(), limit=100):
            await fire_schedule(deps, workflow)

    async def deliver_new(self, owner: str) -> None:
        """Hand the requests published since the last delivery to a runner process, one after the other; once
        the process died, the rest wait for recovery (its consumer committed nothing)."""
        for request in self.bus.undelivered():
            if await self.call(owner, self.runner(owner).run(request)) is None:
                return

    def start_delivery(self, owner: str) -> asyncio.Task[RunOutcome | None] | None:
        """Start running the one request published since the last delivery, in a task of its own."""
        fresh = self.bus.undelivered()
        if not fresh:
            return None
        (request,) = fresh
        task = asyncio.create_task(self.call(owner, self.runner(owner).run(request)))
        self._tasks.append(task)
        return task

    async def kill(self, task: asyncio.Task[Any] | None) -> None:
        """SIGKILL the runner process running `task`: its action stops, nothing of it runs on."""
        if task is None or task.done():
            return
        self.kills += 1
        task.cancel()
        await asyncio.wait({task})

    async def eventually(self, condition: Callable[[], bool], what: str) -> None:
        give_up = time.monotonic() + POLL_DEADLINE
        while not condition():
            assert time.monotonic() < give_up, f"not within {POLL_DEADLINE:g}s: {what}"
            await asyncio.sleep(0.002)

    # -- recovery ---------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """What restarted processes do once the lease and the repair horizons have passed: sweep, re-dispatch
        retries, fire due slots, redeliver every request; round after round until a round changes nothing."""
        self.actions.release_gates()
        for task in self._tasks:
            await asyncio.wait({task})
        self.clock.advance(RECOVERY_JUMP)
        before = await self.snapshot()
        for round in range(1, MAX_ROUNDS + 1):
            failures = len(self.failures)
            await self._recovery_round(round)
            after = await self.snapshot()
            # A round in which a call failed changed nothing only because it failed: the next one tries again.
            if after == before and len(self.failures) == failures:
                self.settled = True
                return
            before = after
            self.clock.advance(ROUND_STEP)

    async def _recovery_round(self, round: int) -> None:
        now = self.clock.now()
        await self.call(f"scheduler-r{round}", self.repair().run_once(now))
        await self.call(f"scheduler-r{round}", self.retries().run_once(now))
        await self.call(f"scheduler-r{round}", self.fire_due())
        redelivered = [request for request in self.bus.sent for _ in range(2)]
        await asyncio.gather(
            *(
                self.call(f"runner-r{round}-{n}", self.runner(f"runner-r{round}-{n}").run(request))
                for n, request in enumerate(redelivered)
            )
        )

    async def executions_of_workflow(self) -> list[Execution]:
        page = await self.store.executions.newest_first(
            ExecutionFilter(workflow_id=WORKFLOW_ID), limit=500, cursor=None
        )
        return sorted(page.items, key=lambda execution: execution.execution_id)

    async def snapshot(self) -> tuple[Any, ...]:
        lock = (await self.store.workflows.get(WORKFLOW_ID)).trigger
        executions = [
            (e.execution_id, e.status, e.waiting, e.attempt, tuple((run.status, run.attempts) for run in e.actions))
            for e in await self.executions_of_workflow()
        ]
        # The other slots of a concurrency limit, and the repair sweep's marks on them: a round that only looked at
        # a missing holder changed something, which the next round (past the repair time) acts on.
        slots = (tuple(lock.holders), lock.holders_since, tuple(lock.holders_seen))
        # The queue (whenBusy: queue), and the sweep's date on it: a round that only looked at a queue it could not
        # move yet changed something too.
        queue = (tuple(lock.waiting), lock.waiting_since)
        return (
            lock.status,
            lock.execution_id,
            lock.next_run_at,
            slots,
            queue,
            tuple(executions),
            len(self.bus.sent),
        )
