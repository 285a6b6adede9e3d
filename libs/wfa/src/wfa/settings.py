"""Settings: one typed object per process, built once in its composition root and passed in.

Every variable is prefixed `WFA_`; a `.env` file in the working directory may add to the environment.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wfa.domain.durations import RetentionPeriod
from wfa.service_layer.triggering import TriggerStep


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WFA_", env_file=".env", extra="ignore")

    mongo_url: str = "mongodb://127.0.0.1:27017/wfa"
    kafka_bootstrap: str = "127.0.0.1:9092"
    http_port: int = 8080
    http_host: str = "0.0.0.0"
    topic_prefix: str = "wfa."
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_private_networks: bool = False
    log_level: str = "info"
    log_format: str = "auto"  # auto: JSON lines unless stderr is a terminal; or "json", "console"

    # Kafka tuning. Tansu (the embedded broker) answers a waiting fetch only when fetch_max_wait_ms runs out,
    # so that wait is the latency of every hop: keep it in the tens of milliseconds.
    kafka_fetch_max_wait_ms: int = 20
    # Group timings: measured figures and the reasons for these values are in wfa/adapters/kafka/consumer.py.
    kafka_session_timeout_ms: int = 6_000
    kafka_heartbeat_interval_ms: int = 500
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1  # of topics this project creates; production clusters want 3
    kafka_request_timeout_ms: int = 5_000  # also the bound on one publish, so an API call never hangs
    kafka_ping_timeout_ms: int = 1_500  # readiness probe; below the ops endpoint's own 2 s check timeout
    kafka_max_poll_records: int = 100
    kafka_max_poll_interval_ms: int = 300_000
    kafka_rebalance_timeout_ms: int = 6_000  # Apache Kafka only: how long members get to rejoin; Tansu ignores it
    kafka_client_id: str = "wfa"
    mongo_timeout_ms: int = 3_000

    # Runner
    runner_concurrency: int = 32
    lease_seconds: float = 30.0
    # How much of an action's result its output keeps whole (an http-request's body): beyond it the output is
    # marked truncated (CONTRACT v2, "Data between actions"). Large outputs are stored beside the execution record
    # (wfa.adapters.mongo.side_outputs), so this bounds one output, not the record.
    action_output_max_bytes: int = Field(default=256 * 1024, ge=0)
    http_max_response_bytes: int = 10 * 1024 * 1024
    http_max_redirects: int = 5
    # Secrets (`{{ secrets.NAME }}`): WFA_SECRET_<NAME> variables, or files <NAME> in this directory.
    secrets_dir: Path | None = None
    # Header names whose values are redacted, besides Authorization, Cookie, Set-Cookie, X-Api-Key and
    # Proxy-Authorization (comma-separated).
    sensitive_headers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    shutdown_grace_seconds: float = 25.0

    # Scheduler
    scheduler_max_sleep_seconds: float = 1.0
    scheduler_batch: int = 200
    redispatch_after_seconds: float = 30.0
    repair_after_seconds: float = 30.0
    sweep_interval_seconds: float = 5.0
    # How long a scheduler's lease on its shards of the schedule lasts unrenewed (renewed every third of it): how
    # late the slots of a scheduler that died may come, before the others take its shards over.
    scheduler_shard_lease_seconds: float = 6.0

    # Retention (a scheduler loop): executions finished more than `retention` ago are removed, but never the
    # newest `retention_keep_last` of a workflow; at most `retention_batch` a pass.
    retention: RetentionPeriod = timedelta(days=30)
    retention_keep_last: int = Field(default=100, ge=0)
    retention_batch: int = Field(default=1_000, ge=1)
    retention_interval_seconds: float = Field(default=60.0, gt=0)

    # Test-only (wfa.entrypoints.fault_injection): the workflows or scheduler process SIGKILLs itself at this
    # step of a trigger. Never set it in production.
    test_crash_at: TriggerStep | None = None

    @field_validator("api_keys", "sensitive_headers", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("secrets_dir", mode="before")
    @classmethod
    def _unset_dir(cls, value: object) -> object:
        # `WFA_SECRETS_DIR=` (as compose passes an unset variable) means none, not the working directory.
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}execution-requests"

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}execution-events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}execution-requests.dlq"


def settings_for(default_port: int) -> Settings:
    """The settings of one process: its own default port unless WFA_HTTP_PORT says otherwise."""
    settings = Settings()
    if "http_port" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"http_port": default_port})
