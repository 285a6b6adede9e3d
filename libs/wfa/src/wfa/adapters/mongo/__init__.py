"""MongoDB adapters (PyMongo's async API): the store and the two repositories. Thin: no business logic."""

from wfa.adapters.mongo.errors import MONGODB, mongo_call
from wfa.adapters.mongo.executions import MongoExecutionRepository
from wfa.adapters.mongo.store import MongoStore
from wfa.adapters.mongo.workflows import MongoWorkflowRepository

__all__ = [
    "MONGODB",
    "MongoExecutionRepository",
    "MongoStore",
    "MongoWorkflowRepository",
    "mongo_call",
]
