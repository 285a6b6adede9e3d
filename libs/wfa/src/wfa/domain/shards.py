"""Sharing the schedule among scheduler processes: shards, their leases, and each process's fair share.

Every workflow belongs to one of SHARDS shards, by a stable hash of its id. Each scheduler process leases a fair
share of the shards (ceil(SHARDS / live processes)) and fires only the slots of the shards it holds, plus those
of shards nobody holds (released, expired, never leased): a shard between two holders is fired by everyone rather
than by no one. The leases only divide the work. The slot claim stays the one guarantee that a slot fires at most
once: two processes that both fire a shard during a handover cost a lost claim, never a second execution.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

SHARDS: Final = 64
"""Fixed: the shard of a workflow must mean the same in every process, whatever their number (up to 64 share)."""

RELEASED: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The lease end of a shard handed back, or of a process that left: long past, so free (or dead) at once."""


def shard_of(workflow_id: str, shards: int = SHARDS) -> int:
    # crc32, not hash(): Python salts str hashes per process.
    return zlib.crc32(workflow_id.encode()) % shards


@dataclass(frozen=True)
class ShardLease:
    shard: int
    owner: str | None  # None once released
    lease_until: datetime


@dataclass(frozen=True)
class ShardView:
    """What the lease store holds: the leases of the shards ever leased, and the processes that said they live."""

    leases: Mapping[int, ShardLease]
    members: Mapping[str, datetime]  # process → until when it is alive, as of its last heartbeat

    def holder(self, shard: int, now: datetime) -> str | None:
        lease = self.leases.get(shard)
        return lease.owner if lease is not None and lease.lease_until > now else None

    def live_members(self, now: datetime) -> set[str]:
        """Processes alive: by their heartbeat, or by a lease they hold (a heartbeat may not have landed yet)."""
        alive = {member for member, until in self.members.items() if until > now}
        return alive | {lease.owner for lease in self.leases.values() if lease.owner and lease.lease_until > now}


@dataclass(frozen=True)
class ShardPlan:
    share: int
    take: tuple[int, ...]  # free shards to try to lease, up to the share
    release: tuple[int, ...]  # held beyond the share: handed back for a newcomer


def plan_shards(view: ShardView, *, me: str, now: datetime, shards: int = SHARDS) -> ShardPlan:
    share = math.ceil(shards / len(view.live_members(now) | {me}))
    held = [shard for shard in range(shards) if view.holder(shard, now) == me]
    free = [shard for shard in range(shards) if view.holder(shard, now) is None]
    # Released from the top, taken from the bottom: what one process hands back is what the others look for.
    return ShardPlan(share=share, take=tuple(free[: max(share - len(held), 0)]), release=tuple(held[share:]))


def firing_shards(view: ShardView, *, me: str, now: datetime, shards: int = SHARDS) -> frozenset[int]:
    """The shards `me` fires: those it holds, and those nobody holds."""
    return frozenset(shard for shard in range(shards) if view.holder(shard, now) in (me, None))
