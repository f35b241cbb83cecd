"""The delivery engine: how a delivery travels, top to bottom.

1. ``emit`` (``emit.py``; ``config/events_api.py`` is its HTTP face) writes an event and its
   deliveries in one transaction and, after the commit, ``wake``s a worker
   (``wakeups.py``: coalesced through a Redis flag).
2. A worker ``drain``s (``drain.py``, run by ``tasks.py``): it ``claim``s due deliveries
   (``claim.py``: the one place a delivery gets its lease), sends them concurrently
   (``batches.py``; one HTTP try is ``sender.py`` over ``http.py``), and ``record``s each
   attempt and the delivery's next state (``record.py``, with the retry policy of
   ``retry.py``).
3. Beat runs ``dispatch_due`` for what falls due later or was left behind, and the
   retention purge (``retention.py``).

Other apps call only what this package exports below, nothing deeper:

- ``emit(event_type, payload, idempotency_key=None, occurred_at=None)``, ``UnknownEventType``,
  ``MAX_PAYLOAD_BYTES``: record an event and its deliveries.
- ``wake()``: ask a worker to send what is due now (after the commit that made it due).
- ``claim(candidates, limit=None)``: lease deliveries for a send.
- ``send_batch(deliveries, trigger, user)``: send claimed deliveries and record them.
- ``start_retry(delivery, user, replay=False)``, ``RetryRefused``: a manual retry; queue
  ``tasks.retry_delivery`` after the commit.
- ``record_unsent(failures)``: record deliveries whose body could not be built as failed
  attempts (log, stats), e.g. a campaign template that failed for one batch.
- ``url_with_query(url, query)``: where a delivery with a ``query`` is sent.
- ``fetch(url, timeout, max_bytes)``, ``FetchFailed``: a GET through the outbound guard
  (a campaign's linked content).
"""

from deliveries.engine.batches import send_batch
from deliveries.engine.claim import claim
from deliveries.engine.emit import MAX_PAYLOAD_BYTES, UnknownEventType, emit
from deliveries.engine.manual import RetryRefused, start_retry
from deliveries.engine.record import record_unsent
from deliveries.engine.sender import FetchFailed, fetch, url_with_query
from deliveries.engine.wakeups import wake

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "FetchFailed",
    "RetryRefused",
    "UnknownEventType",
    "claim",
    "emit",
    "fetch",
    "record_unsent",
    "send_batch",
    "start_retry",
    "url_with_query",
    "wake",
]
