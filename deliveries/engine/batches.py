"""Send claimed deliveries concurrently from a pool of threads, recording as results come.

Nothing waits for a batch's slowest send: each result is recorded with those that finished
about the same time (in groups of at most ``DELIVERIES_RECORD_BATCH``), and the drain
claims more work as soon as threads are free.
"""

import logging
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import connection

from deliveries.engine import limits
from deliveries.engine.record import record
from deliveries.engine.sender import build_request, delivery_body, send
from deliveries.models import Delivery
from webhooks.models import SystemSettings

logger = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """One pool of sending threads per process, made on first use (after any fork)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.DELIVERIES_SEND_CONCURRENCY, thread_name_prefix="send"
        )
    return _executor


class Recorder(threading.Thread):
    """Writes finished sends in groups from its own thread (and database connection), so
    the drain goes on claiming and sending while a group is written.

    A group is at most ``DELIVERIES_RECORD_BATCH`` results, or what finished within
    ``RECORD_DELAY`` seconds of its first: a write costs about the same for 1 attempt as
    for 50. A result in an ordered line is written with what is queued, without waiting:
    its line's next delivery goes once it is written.
    """

    def __init__(self, system):
        super().__init__(name="record", daemon=True)
        self.system = system
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        # Results of deliveries in ordered lines handed over and not written yet: writing
        # one frees its line's next delivery (``lines.promote``).
        self._in_lines = 0
        self._written = threading.Condition()

    def put(self, result) -> None:
        if result[0].line_key is not None:
            with self._written:
                self._in_lines += 1
        self.queue.put(result)

    def wait_for_lines(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until the results of ordered deliveries handed over
        are written, and the next of their lines are due."""
        with self._written:
            self._written.wait_for(lambda: self._in_lines == 0, timeout)

    def run(self) -> None:
        try:
            stopping = False
            while not stopping:
                item = self.queue.get()
                if item is None:
                    break
                group, deadline = [item], self._deadline(item, time.monotonic() + RECORD_DELAY)
                while len(group) < settings.DELIVERIES_RECORD_BATCH:
                    try:
                        item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    group.append(item)
                    deadline = self._deadline(item, deadline)
                self._write(group)
                in_lines = sum(result[0].line_key is not None for result in group)
                if in_lines:
                    with self._written:
                        self._in_lines -= in_lines
                        self._written.notify_all()
        finally:
            connection.close()  # this thread's own

    def _write(self, group) -> None:
        try:
            record(group, self.system)
        except Exception:  # never stop recording the rest; these are sent again at lease end
            logger.exception("Could not record %s attempts", len(group))

    @staticmethod
    def _deadline(result, deadline: float) -> float:
        """When to stop waiting for more results to write with ``result``: at once for
        a delivery in an ordered line (the next in its line waits for this write), with
        whatever else is queued already."""
        return time.monotonic() if result[0].line_key is not None else deadline

    def stop(self) -> None:
        """Write what is queued, then end."""
        self.queue.put(None)
        self.join()


class Sending:
    """Sends under way in the thread pool, recorded as they finish: by a ``Recorder``
    thread (``background``, the drain), or by the caller in ``record_finished``."""

    def __init__(self, background: bool = False):
        self.system = SystemSettings.load()
        self.futures = {}
        self.recorder = Recorder(self.system) if background else None
        if self.recorder:
            self.recorder.start()

    def __len__(self) -> int:
        """Sends submitted and not finished."""
        return len(self.futures)

    def submit(self, deliveries: list[Delivery], slots: dict[int, limits.Slot] | None = None):
        # The deliveries of one event to several endpoints send the same bytes: encode once.
        event_bodies: dict[int, bytes] = {}
        for delivery in deliveries:
            body = None
            if delivery.event_id is not None:
                body = event_bodies.get(delivery.event_id)
                if body is None:
                    body = event_bodies[delivery.event_id] = delivery_body(delivery)
            request = build_request(delivery, body=body)
            slot = slots.get(delivery.pk) if slots else None
            self.futures[executor().submit(send, request)] = (delivery, request, slot)

    def record_finished(self, timeout: float | None = None) -> int:
        """Wait until a send finishes (or ``timeout``), and record what finished: hand it
        to the recorder, or write it here and return how many of those succeeded."""
        done, _ = wait(self.futures, timeout=timeout, return_when=FIRST_COMPLETED)
        # The endpoints' slots count requests in flight: give them back before recording.
        limits.release([self.futures[future][2] for future in done if self.futures[future][2]])
        results = []
        for future in done:
            delivery, request, _ = self.futures.pop(future)
            results.append((delivery, request, future.result()))
        if self.recorder:
            for result in results:
                self.recorder.put(result)
            return 0
        step = settings.DELIVERIES_RECORD_BATCH
        for start in range(0, len(results), step):
            record(results[start : start + step], self.system)
        return sum(result.success for _, _, result in results)

    def wait_for_lines(self, timeout: float = 1.0) -> None:
        """With nothing in flight: wait until what was sent in ordered lines is recorded,
        so the next claim finds their next deliveries due (a line's next delivery is not
        due before its head's result is written)."""
        if self.recorder and not self.futures:
            self.recorder.wait_for_lines(timeout)

    def close(self) -> None:
        """Wait for the recorder to write everything handed to it."""
        if self.recorder:
            self.recorder.stop()


RECORD_DELAY = 0.05
