"""Coalesced wake-ups for the sender.

Every emit needs some worker to look at the due deliveries soon, but not a task of its
own: a burst of 1,000 emits should become a few drains of full batches, not 1,000 drains
of five deliveries each. On Redis a short-lived flag says "a drain is already queued";
emits skip publishing while it is set, and the drain clears it *before* it claims, so a
delivery committed after that claim is covered by a new wake-up. If a queued drain is lost,
the flag expires and the next emit (or the periodic dispatcher) publishes again.
"""

import logging

import redis
from celery import current_app
from kombu.exceptions import OperationalError

from deliveries.engine.shared_redis import client as _redis

logger = logging.getLogger(__name__)

FLAG = "deliveries:drain-queued"
FLAG_TTL_MS = 1000


def should_publish() -> bool:
    client = _redis()
    if client is None:
        return True
    try:
        return bool(client.set(FLAG, 1, nx=True, px=FLAG_TTL_MS))
    except redis.RedisError:
        return True  # cannot tell: publishing (and maybe failing) is the safe side


def clear() -> None:
    client = _redis()
    if client is not None:
        try:
            client.delete(FLAG)
        except redis.RedisError as error:
            logger.warning("Could not clear the wake-up flag: %s", error)


# The drain task (deliveries/engine/tasks.py), named rather than imported: the tasks
# module imports the drain loop, which wakes other workers through this module.
DRAIN_TASK = "deliveries.drain"


def wake() -> None:
    """Ask a worker to send what is due now, unless a wake-up is already queued. Never
    raises on a broker outage: the deliveries are committed, and the periodic dispatcher
    finds them anyway."""
    if not should_publish():
        return
    try:
        current_app.tasks[DRAIN_TASK].delay()
    except (OperationalError, OSError) as error:
        logger.warning("Could not wake the sender (%s); the dispatcher will pick it up", error)
