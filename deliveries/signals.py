"""Signals other apps listen to; deliveries may not import them, so they come to it.

``user_event`` is sent by the events API, inside the request's transaction, for an event
that names a profile ``identity``, with the keyword arguments ``identity``, ``name``,
``properties`` and ``occurred_at`` (aware). A receiver that records the event returns
something other than None; the API answers that the event was recorded for the profile.
A receiver that raises rolls the whole event back.
"""

from django.dispatch import Signal

user_event = Signal()
