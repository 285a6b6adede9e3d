"""MongoStore: the client, the database named in the URL, and the repositories over it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from wfa.adapters.mongo.documents import Document
from wfa.adapters.mongo.errors import mongo_call
from wfa.adapters.mongo.executions import (
    EXECUTION_INDEXES,
    IDEMPOTENCY_CLAIM_INDEXES,
    IDEMPOTENCY_CLAIMS,
    MongoExecutionRepository,
)
from wfa.adapters.mongo.metrics import CommandCounter
from wfa.adapters.mongo.shards import MongoShardLeases
from wfa.adapters.mongo.side_outputs import SIDE_OUTPUT_INDEXES, SIDE_OUTPUTS
from wfa.adapters.mongo.versions import VERSION_INDEXES, MongoVersionRepository
from wfa.adapters.mongo.workflows import WORKFLOW_INDEXES, MongoWorkflowRepository

DEFAULT_DATABASE: Final = "wfa"
WORKFLOWS: Final = "workflows"
EXECUTIONS: Final = "executions"
SHARD_LEASES: Final = "scheduler_shards"
WORKFLOW_VERSIONS: Final = "workflow_versions"


class MongoStore:
    def __init__(self, client: AsyncMongoClient[Document], database: AsyncDatabase[Document]) -> None:
        self._client = client
        self._database = database
        self.workflows_collection: AsyncCollection[Document] = database[WORKFLOWS]
        self.executions_collection: AsyncCollection[Document] = database[EXECUTIONS]
        # Action outputs too large to stay in their execution's document (wfa.adapters.mongo.side_outputs).
        self.outputs_collection: AsyncCollection[Document] = database[SIDE_OUTPUTS]
        self.workflows = MongoWorkflowRepository(self.workflows_collection)
        # Every version of every workflow, kept after a delete (no retention: the contract keeps them readable).
        self.versions_collection: AsyncCollection[Document] = database[WORKFLOW_VERSIONS]
        self.versions = MongoVersionRepository(self.versions_collection)
        self.executions = MongoExecutionRepository(self.executions_collection, outputs=self.outputs_collection)
        # The scheduler's shard leases (wfa.domain.shards); read whole, so no index beyond _id.
        self.shard_leases = MongoShardLeases(database[SHARD_LEASES])

    @classmethod
    def from_url(cls, url: str, *, timeout_ms: int) -> MongoStore:
        """A store on the database the URL's path names (`wfa` when it names none). Connects lazily.

        Every wait is bounded by `timeout_ms` (choosing a server, connecting, each reply), so a call fails with
        DependencyUnavailable rather than hanging while the server is down.
        """
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            tzinfo=UTC,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            event_listeners=[CommandCounter()],
        )
        return cls(client, client.get_default_database(default=DEFAULT_DATABASE))

    @property
    def database_name(self) -> str:
        return self._database.name

    async def ensure_indexes(self) -> None:
        """Create the indexes the repositories' queries need; harmless when they exist."""
        with mongo_call("ensure_indexes"):
            await self.workflows_collection.create_indexes(WORKFLOW_INDEXES)
            await self.executions_collection.create_indexes(EXECUTION_INDEXES)
            await self.outputs_collection.create_indexes(SIDE_OUTPUT_INDEXES)
            await self.versions_collection.create_indexes(VERSION_INDEXES)
            await self._database[IDEMPOTENCY_CLAIMS].create_indexes(IDEMPOTENCY_CLAIM_INDEXES)

    async def ping(self) -> None:
        """Raises DependencyUnavailable("mongodb", ...) when the server does not answer."""
        with mongo_call("ping"):
            await self._database.command("ping")

    async def server_time(self) -> datetime:
        """The server's clock (`hello`'s localTime, whole milliseconds): what DatabaseClock follows."""
        with mongo_call("server_time"):
            reply = await self._client.admin.command("hello")
        moment: datetime = reply["localTime"]
        # command() decodes with the driver's default options, not the client's tz_aware ones: naive UTC.
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    async def close(self) -> None:
        await self._client.close()
