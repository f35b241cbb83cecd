"""Fan-out: one occurrence of a campaign, its audience streamed into deliveries.

The segment is evaluated once (``evaluate.snapshot``) and read back in chunks of profile
ids in ascending order. Each chunk is one transaction: members are split into control
and target (deterministically, by a hash of campaign and profile), capped, batched
into payloads of ``batch_size`` profiles, and written as campaign deliveries, which the
engine then sends like any other (signatures, fair share, retries, log, stats). The
run's counters and cursor move in the same transaction, so a run that dies resumes
after the last chunk it wrote, and running the same occurrence again never sends twice.
Memory stays flat: one chunk of profiles at a time.

Profile-variables payloads are built in SQL and written by COPY on PostgreSQL
(``fanout_copy``); custom Liquid bodies, and everything on SQLite, are built in Python
by the run's ``Composer`` (``fanout_orm``), where a batch whose template or linked
content fails becomes one failed delivery and the run goes on. On PostgreSQL those
bodies keep the profile-variables pace: the profiles' columns come with the segment's
chunks (read by the other connection), and each chunk's transaction runs in a thread
of its own while the next chunk renders (``fanout_writes``).

When the segment is built on an action, each target's Event_properties are those of its
latest qualifying event (``evaluate.qualifying_events``): read in SQL with the entries on
the COPY path, and in one query per chunk written (``evaluate.latest_event_properties``)
when bodies are built in Python.
"""

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from copy import copy
from functools import partial

from django.db import connection, connections, transaction
from django.utils import timezone

from campaigns.content.compose import Composer
from campaigns.content.payload import PROFILE_FIELDS
from campaigns.models import BodyMode, Campaign, CampaignRun, CampaignStatus, RunStatus
from campaigns.segments import evaluate, rules
from campaigns.sending import fanout_copy, fanout_orm
from campaigns.sending.fanout_writes import Halted, Writes, writing

# Members per transaction: large enough to amortise the round trips, small enough that
# a chunk's profiles and payloads stay a few megabytes.
CHUNK = 5000
ALL_FIELDS = list(PROFILE_FIELDS)  # bench_fanout's campaign sends every field


class NothingToSend(Exception):
    """The campaign cannot run: no webhook, or no audience rule."""


def run_occurrence(campaign_id: int, occurrence: str, now=None) -> CampaignRun:
    """Run (or resume) one occurrence of the campaign and return its run."""
    campaign = Campaign.objects.select_related("segment", "webhook").get(pk=campaign_id)
    if campaign.webhook is None:
        raise NothingToSend(f"Campaign {campaign.pk} has no webhook.")
    rule = audience(campaign)
    # One time for the run: the members and their qualifying events see the same window.
    now = now or timezone.now()
    run, _ = CampaignRun.objects.get_or_create(campaign=campaign, occurrence=occurrence)
    if run.status != RunStatus.RUNNING:
        return run  # Done (or stopped) before: an occurrence is sent once.
    # The run's bodies and linked-content cache, unless COPY writes the payloads built in SQL.
    composer = None if _copies(campaign) else Composer(campaign)
    events = _latest_events(campaign, rule, now) if composer else None
    with (
        _member_chunks(campaign, rule, now, run.cursor) as (count, chunks),
        writing(campaign, threaded=composer is not None) as writes,
    ):
        if run.streamed == 0:
            CampaignRun.objects.filter(pk=run.pk).update(members=count)
            run.members = count
        try:
            _stream(campaign, run, chunks, composer, events, writes)
        except Halted as halted:
            return _halt(run, halted.status)
    CampaignRun.objects.filter(pk=run.pk).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def _stream(
    campaign: Campaign,
    run: CampaignRun,
    chunks: Iterator[list[tuple]],
    composer: Composer | None,
    events: Callable[[list[int]], dict[int, dict]] | None,
    writes: Writes,
) -> None:
    """Write the members of ``chunks`` as they come; raise Halted for a campaign paused
    or stopped meanwhile."""
    # PostgreSQL: each pending target's entry built in SQL (COPY), or its profile's columns.
    entries: dict[int, str | tuple] = {}
    pending: list[int] = []  # members read but not yet written, ascending
    for rows in chunks:
        writes.check_status()
        entries.update(row for row in rows if row[1] is not None)
        pending += [row[0] for row in rows]
        pending, capped = _write_ready(
            campaign, run, pending, entries, composer, events, writes, final=False
        )
        if capped:
            return
    _write_ready(campaign, run, pending, entries, composer, events, writes, final=True)


@contextmanager
def _member_chunks(campaign: Campaign, rule: rules.Rule, now, after: int):
    """``(member count, chunks of (profile id, entry or None))`` above ``after``.

    On PostgreSQL a second connection, in a thread, evaluates the segment and builds
    each profile's entry (``fanout_copy``) while this one writes the chunk before: the
    two database backends keep both cores busy. The queue holds two chunks at most, so
    memory stays flat. Elsewhere (SQLite) the ids are read here, and the entries built
    in Python when written.
    """
    if connection.vendor != "postgresql":
        with evaluate.snapshot(rule, now) as members:
            chunks = members.chunks(CHUNK, after=after)
            try:
                yield members.count, ([(pk, None) for pk in ids] for ids in chunks)
            finally:
                chunks.close()  # its cursor, before the table is dropped
        return
    # COPY's payloads use the entries built in SQL; bodies built in Python the profile's
    # columns, read here too, so the writer never waits for them.
    select, params = (", ".join(f"p.{column}" for column in fanout_orm.PROFILE_COLUMNS), [])
    if _copies(campaign):
        latest = None
        if "Event_properties" in campaign.profile_fields:
            latest = evaluate.latest_event_select(rule, "p.id", now)
        select, params = fanout_copy.entry_select(campaign, latest)
    handoff: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        try:
            # In a transaction, the cursor streams; outside one it would be WITH HOLD,
            # and PostgreSQL would compute every row before handing over the first.
            with transaction.atomic(), evaluate.snapshot(rule, now) as members:
                handoff.put(("count", members.count))
                for rows in members.profile_chunks(select, params, CHUNK, after):
                    if not _copies(campaign):  # (id, (id, identity, ..., properties))
                        rows = [(row[0], row[1:]) for row in rows]
                    while not stop.is_set():
                        try:
                            handoff.put(("rows", rows), timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            handoff.put(("end", None))
        except BaseException as error:  # handed to the writer, which raises it
            handoff.put(("error", error))
        finally:
            connections.close_all()  # this thread's own connection

    def received():
        while True:
            kind, value = handoff.get()
            if kind == "rows":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    producer = threading.Thread(target=produce, name="fanout-members", daemon=True)
    producer.start()
    try:
        kind, value = handoff.get()
        if kind == "error":
            raise value
        yield value, received()
    finally:
        stop.set()
        while producer.is_alive():  # let it see the stop, or finish, and let go
            with suppress(queue.Empty):
                handoff.get(timeout=0.1)
        producer.join()


def audience(campaign: Campaign) -> rules.Rule:
    """The campaign's audience rule: its saved segment's, or its own ad-hoc one."""
    data = campaign.segment.rule if campaign.segment else campaign.rule
    if not data:
        raise NothingToSend(f"Campaign {campaign.pk} has no audience.")
    return rules.parse(data)


def member_event_properties(campaign: Campaign, profile_id: int | None) -> dict | None:
    """The Event_properties a run starting now would send this member (a test send and
    the preview show the same): its latest qualifying event's, or None when the segment
    is not built on an action (or there is no audience yet)."""
    try:
        rule = audience(campaign)
    except (NothingToSend, ValueError):
        return None
    if profile_id is None or evaluate.qualifying_events(rule) is None:
        return None
    return evaluate.latest_event_properties(rule, [profile_id]).get(profile_id, {})


def in_control(campaign_id: int, profile_id: int, percent: int) -> bool:
    """Whether a member is held back: the same answer for every run of the campaign."""
    if percent <= 0:
        return False
    digest = hashlib.blake2b(f"{campaign_id}:{profile_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) % 10_000 < percent * 100


def _latest_events(
    campaign: Campaign, rule: rules.Rule, now
) -> Callable[[list[int]], dict[int, dict]] | None:
    """How bodies built in Python get their targets' Event_properties, a chunk at a time;
    None when they have none to get (a custom body may use them anywhere, even in
    ``profiles | json``, so it always gets them)."""
    if campaign.body_mode != BodyMode.CUSTOM and "Event_properties" not in campaign.profile_fields:
        return None
    if evaluate.qualifying_events(rule, now) is None:
        return None
    return partial(evaluate.latest_event_properties, rule, now=now)


def _copies(campaign: Campaign) -> bool:
    """Whether the payloads are built in SQL and written by COPY (``fanout_copy``)."""
    return connection.vendor == "postgresql" and campaign.body_mode != BodyMode.CUSTOM


def _write_ready(
    campaign: Campaign,
    run: CampaignRun,
    pending: list[int],
    entries: dict,
    composer: Composer | None,
    events: Callable[[list[int]], dict[int, dict]] | None,
    writes: Writes,
    final: bool,
) -> tuple[list[int], bool]:
    """Write the members of ``pending`` that fill whole payloads (all of them when
    ``final``), in one transaction; return the rest, and whether the cap was reached.

    Payloads never straddle a write, and the run's cursor is the last member written,
    so a resumed run rebuilds exactly the payloads that were not written.
    """
    campaign_id, percent = campaign.pk, campaign.control_percent
    control = (
        {pk for pk in pending if in_control(campaign_id, pk, percent)} if percent > 0 else set()
    )
    targets = [pk for pk in pending if pk not in control]
    capped = False
    if campaign.target_cap is not None and len(targets) >= campaign.target_cap - run.targets:
        targets = targets[: max(campaign.target_cap - run.targets, 0)]
        capped = final = True
    if final:
        count = len(targets)
        boundary = targets[-1] if capped and targets else (pending[-1] if pending else None)
    else:
        count = len(targets) // campaign.batch_size * campaign.batch_size
        boundary = targets[count - 1] if count else None
    if boundary is None:
        return pending, capped
    handled = [pk for pk in pending if pk <= boundary]
    written = targets[:count]
    # Bodies built in Python are built before the transaction: linked content may wait
    # on other servers, and nothing should be held open meanwhile.
    built = None
    if composer:
        rows = [entries[pk] for pk in written if pk in entries] if entries else None
        built = fanout_orm.build(composer, written, campaign.batch_size, events, rows)
    held = [pk for pk in handled if pk in control]
    targeted = [(pk, entries.pop(pk, None)) for pk in written]
    for pk in held:
        entries.pop(pk, None)
    # A writer in its own thread counts on a copy; this thread's run moves on as the
    # write is handed over, for the cap.
    counted = run if writes.pool is None else copy(run)

    def write() -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A chunk lost in a crash is lost with its cursor (one transaction), and
                # the resumed run writes it again: no need to wait for each commit's flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            _write(campaign, counted, handled, targeted, held, composer, built)

    writes.run(write)
    if counted is not run:
        _count(run, handled, sum(len(item.profile_ids) for item in built), held, len(built))
    return [pk for pk in pending if pk > boundary], capped


def _write(
    campaign: Campaign,
    run: CampaignRun,
    handled: list[int],
    targets: list[tuple[int, str | None]],
    control: list,
    composer: Composer | None,
    built: list[fanout_orm.Built] | None,
) -> None:
    """Write the targets (by COPY with their entries, or as ``built``) and the control
    members."""
    size = campaign.batch_size
    if composer is None:
        batches = [targets[i : i + size] for i in range(0, len(targets), size)]
        payloads = fanout_copy.write(campaign, run, batches, control)
        sent = len(targets)
    else:
        payloads, sent = fanout_orm.write(campaign, run, built or [], control)
    _count(run, handled, sent, control, payloads)
    CampaignRun.objects.filter(pk=run.pk).update(
        streamed=run.streamed,
        targets=run.targets,
        control=run.control,
        payloads=run.payloads,
        cursor=run.cursor,
    )


def _count(run: CampaignRun, handled: list[int], sent: int, control: list, payloads: int) -> None:
    run.streamed += len(handled)
    run.targets += sent
    run.control += len(control)
    run.payloads += payloads
    run.cursor = handled[-1]


def _halt(run: CampaignRun, status: str) -> CampaignRun:
    if status == CampaignStatus.STOPPED:
        CampaignRun.objects.filter(pk=run.pk).update(
            status=RunStatus.STOPPED, finished_at=timezone.now()
        )
    # Paused: the run stays running, and resumes from its cursor when resumed.
    run.refresh_from_db()
    return run
