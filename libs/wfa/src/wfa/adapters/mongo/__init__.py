"""MongoDB adapters (PyMongo's async API): the store, the repositories and the clock that follows the
server's. Thin: no business logic."""

from wfa.adapters.mongo.clock import DatabaseClock
from wfa.adapters.mongo.errors import MONGODB, mongo_call
from wfa.adapters.mongo.executions import MongoExecutionRepository
from wfa.adapters.mongo.shards import MongoShardLeases
from wfa.adapters.mongo.store import MongoStore
from wfa.adapters.mongo.versions import MongoVersionRepository
from wfa.adapters.mongo.workflows import MongoWorkflowRepository

__all__ = [
    "MONGODB",
    "DatabaseClock",
    "MongoExecutionRepository",
    "MongoShardLeases",
    "MongoStore",
    "MongoVersionRepository",
    "MongoWorkflowRepository",
    "mongo_call",
]
