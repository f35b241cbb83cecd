"""Sending a campaign: how it travels from the wizard's Publish to deliveries.

1. ``publish`` (``lifecycle.py``) checks the campaign is ready (``problems``) and sets its
   first occurrence (``runs.first_run``, from the pure arithmetic of ``schedule.py``): a
   one-time or recurring campaign is ``scheduled``, a live one ``running`` (listening).
   Pause, resume and stop move it between statuses by one table (``STARTS_FROM``), which
   the campaign page reads too (``can``).
2. Beat's ``campaigns.dispatch_due`` (``tasks.py``) claims the occurrences due now
   (``runs.due_runs``: ``SKIP LOCKED``, never one already past its grace) and starts each
   as a run (``runs.run``: one at a time per campaign, a failure ends the run ``failed``
   with a reason an admin can act on).
3. A run fans out (``fanout.py``): the audience is read in chunks, split into control and
   target members, capped and batched into payloads, each chunk in one transaction with
   the run's cursor, so a run resumes where it stopped. Payloads are built in SQL and
   written by COPY on PostgreSQL (``fanout_copy.py``), or built in Python by the
   campaign's ``Composer`` (``fanout_orm.py``).
4. The payloads are handed to ``deliveries.engine`` (``write_payloads``, ``write_unsent``
   for a batch whose body failed), which sends them like any other delivery.
5. A live campaign instead gets one trigger row per user event (``live_triggers.py``,
   written in the events API's transaction), settled when due: ``live.py`` sends to that
   user if still in the audience.
6. A test send (``test_send.py``) builds one member's body the same way and asks the
   engine to send it next; ``control_group.py`` says how many members a run would hold
   out.

Other parts of ``campaigns`` (the wizard, the pages, the demo) call only what this
package exports below:

- ``publish(campaign, now=None)``, ``PublishRefused``, ``problems(campaign, now=None)``:
  publish a campaign, or say what stops it.
- ``pause(campaign)``, ``resume(campaign, now=None)`` (returns the unfinished runs, to
  start with ``queue_runs``), ``stop(campaign)``, ``can(action, campaign)``, ``SENDING``.
- ``due_runs(now=None)``, ``run(campaign_id, occurrence)``: what beat does, callable
  directly (the demo, tests).
- ``recurrence_of(campaign)``, ``Recurrence``, ``FREQUENCIES``, ``WEEKDAYS``,
  ``local_to_utc``, ``next_occurrence``, ``validate_send_at``, ``occurrence_key``: when
  a campaign sends.
- ``audience(campaign)``, ``NothingToSend``: the audience rule a run reads.
- ``sample_event_properties(campaign, profile, anyone=False)``: the Event_properties a
  preview or a test send shows for a member, as a run would send them.
- ``held_out(campaign, percent=None, cap=None)``, ``TOO_FEW``: the control group's size.
- ``send_test(campaign, profile, user)``, ``TestSendRefused``: a test send.
- ``skipped_while_paused(campaign)``: live triggers a pause skipped.
- ``queue_live(event)``: write the live triggers a user event sets off (events API).
- ``queue_runs(unfinished)``: start runs after the caller's commit.
"""

from campaigns.sending.control_group import TOO_FEW, held_out
from campaigns.sending.fanout import NothingToSend, audience
from campaigns.sending.lifecycle import (
    SENDING,
    PublishRefused,
    can,
    pause,
    problems,
    publish,
    resume,
    stop,
)
from campaigns.sending.live import sample_event_properties
from campaigns.sending.live_triggers import skipped_while_paused
from campaigns.sending.runs import due_runs, recurrence_of, run
from campaigns.sending.schedule import (
    FREQUENCIES,
    WEEKDAYS,
    Recurrence,
    local_to_utc,
    next_occurrence,
    occurrence_key,
    validate_send_at,
)
from campaigns.sending.tasks import queue_live, queue_runs
from campaigns.sending.test_send import TestSendRefused, send_test

__all__ = [
    "FREQUENCIES",
    "SENDING",
    "TOO_FEW",
    "WEEKDAYS",
    "NothingToSend",
    "PublishRefused",
    "Recurrence",
    "TestSendRefused",
    "audience",
    "can",
    "due_runs",
    "held_out",
    "local_to_utc",
    "next_occurrence",
    "occurrence_key",
    "pause",
    "problems",
    "publish",
    "queue_live",
    "queue_runs",
    "recurrence_of",
    "resume",
    "run",
    "sample_event_properties",
    "send_test",
    "skipped_while_paused",
    "stop",
    "validate_send_at",
]
