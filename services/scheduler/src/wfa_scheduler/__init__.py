"""The scheduler service: fires scheduled workflows, re-dispatches retries, repairs what crashes leave behind,
removes executions past their retention.

Each job is a use case over the repository ports and a clock, callable one pass at a time (`run_once(now)`);
`Scheduler` runs them as loops, `ShardOwnership` divides the firing among scheduler processes, and `main` wires
them to MongoDB and Kafka.
"""

from wfa_scheduler.changes import ChangesUnsupported, Wake, Wakeup, WorkflowChanges, follow_changes
from wfa_scheduler.firing import Firing, FiringPass
from wfa_scheduler.loop import Loop
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair, RepairPass
from wfa_scheduler.retention import Retention, RetentionPass
from wfa_scheduler.retries import Retries, RetryOutcome, RetryPass
from wfa_scheduler.scheduler import Scheduler, SchedulerJobs
from wfa_scheduler.shards import ShardOwnership

__all__ = [
    "ChangesUnsupported",
    "Firing",
    "FiringPass",
    "Loop",
    "Repair",
    "RepairPass",
    "Retention",
    "RetentionPass",
    "Retries",
    "RetryOutcome",
    "RetryPass",
    "Scheduler",
    "SchedulerJobs",
    "SchedulerMetrics",
    "ShardOwnership",
    "Wake",
    "Wakeup",
    "WorkflowChanges",
    "follow_changes",
]
