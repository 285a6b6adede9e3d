"""Crashes and MongoDB failures at every write boundary, against the real MongoDB-wire server.

Each case runs a scenario with one fault at its k-th write (tests/integration/fault_injection/faults.py), then
lets new processes recover (world.py), then checks the guarantees users rely on (contract, "Semantics users
rely on" and "Settled details"; invariants.py) and what the scenario itself promises (scenarios.py). The test
id names the scenario, the fault and the write, e.g. `test_guarantees_survive_a_fault[retried-crash_after-7]`.
"""

from __future__ import annotations

import pytest
from tests.integration.fault_injection.faults import FaultMode, FaultPlan
from tests.integration.fault_injection.invariants import broken_guarantees
from tests.integration.fault_injection.scenarios import SCENARIOS, Scenario
from tests.integration.fault_injection.world import World

from wfa.adapters.mongo import MongoStore

pytestmark = pytest.mark.integration

CASES = [
    pytest.param(
        scenario,
        mode,
        k,
        id=f"{scenario.name}-{mode.value}-{k}",
    )
    for scenario in SCENARIOS
    for mode in FaultMode
    for k in range(1, scenario.writes + 1)
]


async def play(store: MongoStore, scenario: Scenario, plan: FaultPlan) -> tuple[World, list[str]]:
    world = World(store, plan, scenario.script)
    await world.add_workflow(scenario.body)
    await scenario.act(world)
    writes_before_recovery = plan.count
    await world.recover()
    executions = await world.executions_of_workflow()
    problems = await broken_guarantees(world, executions) + scenario.expect(world, executions)
    if plan.at is None:
        assert writes_before_recovery == scenario.writes, (
            f"{scenario.name} made {writes_before_recovery} writes without faults, not {scenario.writes}: "
            f"{[str(write) for write in plan.writes[:writes_before_recovery]]}"
        )
    return world, problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_fault_free_run(store: MongoStore, scenario: Scenario) -> None:
    world, problems = await play(store, scenario, FaultPlan())

    assert problems == [], problems
    assert world.failures == []


@pytest.mark.parametrize(("scenario", "mode", "k"), CASES)
async def test_guarantees_survive_a_fault(store: MongoStore, scenario: Scenario, mode: FaultMode, k: int) -> None:
    plan = FaultPlan(mode=mode, at=k)

    world, problems = await play(store, scenario, plan)

    assert plan.struck is not None and plan.struck.number == k, f"write {k} never came"
    assert problems == [], f"after {mode.value} at {plan.struck}: {problems}; calls that failed: {world.failures}"
