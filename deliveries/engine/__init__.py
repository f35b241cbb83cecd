"""The delivery engine: how a delivery travels, top to bottom.

1. ``emit`` and ``emit_many`` (``emit.py``; ``config/events_api.py`` is their HTTP face)
   write events and their deliveries in one statement (``writes.py``), to the subscribed
   webhooks that ``webhooks.subscriptions`` caches, and after the commit ``wake`` a worker
   (``wakeups.py``: coalesced through a Redis flag).
2. A worker ``drain``s (``drain.py``, run by ``tasks.py``): it ``claim``s due deliveries
   (``claim.py``: the one place a delivery gets its lease), sends them concurrently
   (``batches.py``; one HTTP try is ``sender.py`` over ``http.py``), and ``record``s each
   attempt and the delivery's next state (``record.py``, with the retry policy of
   ``retry.py``).
3. A webhook may send in order (``lines.py``): a delivery waits in its line, with no due
   time, until the one before it is done.
4. An admin's Retry, bulk retry or test send only marks its deliveries as asked for and
   due (``manual.py``): the drain sends them within the endpoint's limits like the rest,
   and records each attempt as that admin's.
5. Beat runs ``dispatch_due`` for what falls due later or was left behind, and the
   retention purge (``retention.py``).

Other apps call only what this package exports below, nothing deeper:

- ``emit(event_type, payload, idempotency_key=None, occurred_at=None)``, ``UnknownEventType``,
  ``MAX_PAYLOAD_BYTES``: record an event and its deliveries. ``emit_many(events)`` records
  many ``NewEvent``s at once (one statement on PostgreSQL) and returns an ``Emitted`` for
  each, in order: created, found by its idempotency key, or of an unknown type.
- ``wake()``: ask a worker to send what is due now (after the commit that made it due).
- ``start_retry(delivery, user, replay=False)``, ``retry_failed(ids, user, bulk_retry_id)``,
  ``send_test(webhook, payload, user, ...)``, ``RetryRefused``, ``refusal(webhook)``: sends
  an admin asks for (``manual.py``); the drain makes them within the endpoint's limits,
  as theirs.
- ``skip(delivery, user)``: give up the head of an ordered line so the next goes;
  ``head_of(delivery)``: what a delivery waiting in its line waits behind;
  ``waiting_lines(webhook)``: a webhook's lines with deliveries waiting (``lines.py``).
- ``record_unsent(failures)``: record deliveries whose body could not be built as failed
  attempts (log, stats), e.g. a campaign template that failed for one batch.
- ``write_payloads(webhook, payloads, *, source, content_type, ...)``: write deliveries of
  payloads built elsewhere (a campaign's), pending or held by the webhook's state (COPY on
  PostgreSQL); returns their ids. ``write_unsent(webhook, failures, ...)``: write payloads
  whose body could not be built, each failed by its one attempt (``writes.py``).
- ``url_with_query(url, query)``: where a delivery with a ``query`` is sent.
- ``fetch(url, timeout, max_bytes)``, ``FetchFailed``: a GET through the outbound guard
  (a campaign's linked content).
"""

from deliveries.engine.emit import (
    MAX_PAYLOAD_BYTES,
    Emitted,
    NewEvent,
    UnknownEventType,
    emit,
    emit_many,
)
from deliveries.engine.manual import (
    RetryRefused,
    refusal,
    retry_failed,
    send_test,
    skip,
    start_retry,
)
from deliveries.engine.record import record_unsent
from deliveries.engine.sender import FetchFailed, fetch, url_with_query
from deliveries.engine.wakeups import wake
from deliveries.engine.writes import write_payloads, write_unsent
from deliveries.line_reads import head_of, waiting_lines

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Emitted",
    "FetchFailed",
    "NewEvent",
    "RetryRefused",
    "UnknownEventType",
    "emit",
    "emit_many",
    "fetch",
    "record_unsent",
    "refusal",
    "retry_failed",
    "send_test",
    "skip",
    "head_of",
    "waiting_lines",
    "start_retry",
    "url_with_query",
    "wake",
    "write_payloads",
    "write_unsent",
]
