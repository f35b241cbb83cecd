"""Write benchmark history chunks: COPY on PostgreSQL, INSERTs elsewhere."""

import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from deliveries.models import Delivery, DeliveryAttempt
from webhooks.models import Event


@dataclass
class Chunk:
    events: list[tuple] = field(default_factory=list)
    deliveries: list[tuple] = field(default_factory=list)
    attempts: list[tuple] = field(default_factory=list)


EVENT_COLUMNS = ["id", "event_type_id", "payload", "occurred_at", "idempotency_key", "created_at"]
DELIVERY_COLUMNS = [
    "id", "webhook_id", "source", "event_id", "event_type_id", "category", "status",
    "attempt_count", "next_attempt_at", "last_attempt_at", "last_response_code",
    "last_failure_reason", "created_at", "updated_at",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "id", "delivery_id", "webhook_id", "number", "attempted_at", "trigger", "triggered_by_id",
    "request_url", "request_method", "request_headers", "request_body", "success",
    "response_code", "response_headers", "response_body", "response_body_truncated",
    "response_body_encoding", "duration_ms", "failure_reason", "failure_detail",
]  # fmt: skip
TABLES = [
    ("events", Event, EVENT_COLUMNS),
    ("deliveries", Delivery, DELIVERY_COLUMNS),
    ("attempts", DeliveryAttempt, ATTEMPT_COLUMNS),
]


class CopyWriter:
    """COPYs chunks on its own connection in a thread, so PostgreSQL stores one chunk
    while the caller generates the next. Each chunk is one transaction."""

    def __init__(self, progress):
        self.progress, self.stored, self.error = progress, 0, None
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        # Inside a transaction the seeded webhooks are invisible to another connection.
        self.thread = None
        if not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._run, name="seed-copy", daemon=True)
            self.thread.start()

    def put(self, chunk: Chunk) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self._copy(chunk)
        else:
            self.queue.put(chunk)

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        # `connection` is per thread: this is the writer's own.
        try:
            while (chunk := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        self._copy(chunk)
                    except Exception as error:  # handed to the generating thread
                        self.error = error
        finally:
            connection.close()

    def _copy(self, chunk: Chunk) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for attr, model, columns in TABLES:
                names = ", ".join(model._meta.get_field(c).column for c in columns)
                sql = f"COPY {model._meta.db_table} ({names}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in getattr(chunk, attr):
                        copy.write_row(row)
        self.stored += len(chunk.attempts)
        if self.progress:
            self.progress(self.stored)


class InsertWriter:
    """INSERTs for databases without COPY (SQLite)."""

    def __init__(self, progress):
        self.progress, self.stored = progress, 0

    def put(self, chunk: Chunk) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        with transaction.atomic(), connection.cursor() as cursor:
            for attr, model, columns in TABLES:
                names = ", ".join(model._meta.get_field(c).column for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                rows = [
                    [adapt(v) if isinstance(v, datetime) else v for v in row]
                    for row in getattr(chunk, attr)
                ]
                cursor.executemany(
                    f"INSERT INTO {model._meta.db_table} ({names}) VALUES ({marks})", rows
                )
        self.stored += len(chunk.attempts)
        if self.progress:
            self.progress(self.stored)

    def close(self) -> None:
        pass
