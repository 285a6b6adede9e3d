"""Which workflows this scheduler process fires: its share of the shards (wfa.domain.shards).

Every `interval` (a third of the lease) a step renews this process's leases and its heartbeat, reads every lease,
hands back what is beyond its fair share and takes free shards up to it. Between steps `owns` answers from what
the last step saw. Until the first step, and whenever the last successful one is older than a lease (the lease
store is unreachable, so the view may be stale), it owns everything: firing too much costs lost claims, firing too
little would miss slots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from wfa.domain.clock import Clock
from wfa.domain.shards import SHARDS, ShardView, firing_shards, plan_shards, shard_of
from wfa.ports.repositories import ShardLeaseRepository
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

# A heartbeat this old belongs to a process gone for good (a restart takes a new name): its record is removed.
FORGET_AFTER = timedelta(hours=1)


def _nothing() -> None:
    pass


class ShardOwnership:
    def __init__(
        self,
        leases: ShardLeaseRepository,
        clock: Clock,
        *,
        owner: str,
        lease: timedelta,
        metrics: SchedulerMetrics,
        on_change: Callable[[], None] = _nothing,
        shards: int = SHARDS,
    ) -> None:
        self._leases = leases
        self._clock = clock
        self.owner = owner
        self._lease = lease
        self._metrics = metrics
        self.on_change = on_change  # called when the shards this process fires change
        self._shards = shards
        self._firing: frozenset[int] | None = None
        self._valid_until: datetime | None = None
        self.owned: frozenset[int] = frozenset()

    @property
    def interval(self) -> float:
        return self._lease.total_seconds() / 3

    def owns(self, workflow_id: str) -> bool:
        """Whether this process fires the slots of `workflow_id`."""
        if self._firing is None or self._valid_until is None or self._clock.now() >= self._valid_until:
            return True
        return shard_of(workflow_id, self._shards) in self._firing

    async def step(self) -> float:
        now = self._clock.now()
        until = now + self._lease
        await self._leases.heartbeat(self.owner, until=until)
        view = await self._leases.read()
        plan = plan_shards(view, me=self.owner, now=now, shards=self._shards)
        for shard in plan.release:
            await self._leases.release(shard, owner=self.owner)
        taken = [
            shard for shard in plan.take if await self._leases.try_take(shard, owner=self.owner, until=until, now=now)
        ]
        lost = set(plan.take) - set(taken)
        owned = frozenset(s for s in range(self._shards) if view.holder(s, now) == self.owner) - set(plan.release)
        self._record(view, now, owned | set(taken), lost, until)
        gone = [member for member, alive_until in view.members.items() if alive_until < now - FORGET_AFTER]
        if gone:
            await self._leases.forget(gone)
        return self.interval

    async def leave(self) -> None:
        """Hand every shard back (at a clean shutdown), so that the others take them over at their next step rather
        than when the leases run out."""
        await self._leases.leave(self.owner)
        self.owned = frozenset()
        self._metrics.shards.set(0)

    def _record(self, view: ShardView, now: datetime, owned: frozenset[int], lost: set[int], until: datetime) -> None:
        firing = firing_shards(view, me=self.owner, now=now, shards=self._shards) - lost
        # A shard handed back is still fired here until another process is seen holding it.
        firing |= owned
        changed = firing != self._firing
        if owned != self.owned:
            log.info("scheduler.shards_changed", owner=self.owner, owned=len(owned), firing=len(firing))
        self.owned, self._firing, self._valid_until = owned, firing, until
        self._metrics.shards.set(len(owned))
        if changed:
            self.on_change()
