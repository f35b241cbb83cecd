"""Where a fan-out's chunk transactions run: in the caller's thread, or in a thread of
their own while the caller renders the next chunk's bodies (``fanout``'s Liquid path on
PostgreSQL)."""

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress

from django.db import connection, connections, transaction

from campaigns.models import Campaign, CampaignStatus
from deliveries.engine import wake


class Writes:
    """Where each chunk's transaction runs: in the caller's thread, or (``threaded``)
    in a thread of its own, while the caller builds the next chunk's bodies.

    Bodies built in Python keep a core busy; the chunk's COPYs and commit mostly wait on
    PostgreSQL. One write at a time, in order, so the run's cursor still only moves
    forward; the caller keeps the run's counters (the cap reads them) and the writer
    stores them with the chunk. A write's error is raised in the caller at its next
    write, or when it waits.
    """

    def __init__(self, campaign: Campaign, threaded: bool):
        self.campaign = campaign
        self.pool = ThreadPoolExecutor(1, "fanout-writes") if threaded else None
        self.pending: Future | None = None

    def check_status(self) -> None:
        """Raise Halted if the campaign was paused or stopped."""
        status = Campaign.objects.values_list("status", flat=True).get(pk=self.campaign.pk)
        if status in (CampaignStatus.PAUSED, CampaignStatus.STOPPED):
            self.wait()
            raise Halted(status)

    def run(self, write: Callable[[], None]) -> None:
        """Run ``write``, or have it run once the last write is committed. Raises Halted
        when the campaign was paused or stopped before it, as the chunk was built."""
        if self.pool is None:
            write()
            transaction.on_commit(wake)
            return
        self.wait()
        self.check_status()  # as the synchronous run would have, after the last write
        self.pending = self.pool.submit(write)

    def wait(self) -> None:
        """Return once the last write is committed (raising its error, if any)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()
            wake()

    def close(self, failed: bool) -> None:
        if self.pool is None:
            return
        try:
            if failed:
                with suppress(Exception):  # the caller's error is the one to raise
                    self.wait()
            else:
                self.wait()
        finally:
            self.pool.submit(connections.close_all).result()  # the writer's connection
            self.pool.shutdown()


class Halted(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


@contextmanager
def writing(campaign: Campaign, threaded: bool):
    # In a thread only where another connection can see (and point at) the campaign and
    # the run: committed, PostgreSQL's; SQLite's test database lives in one connection.
    threaded = threaded and connection.vendor == "postgresql" and not connection.in_atomic_block
    writes = Writes(campaign, threaded)
    try:
        yield writes
    except BaseException:
        writes.close(failed=True)
        raise
    writes.close(failed=False)
