"""Coalesced wake-ups for the sender.

Every emit needs some worker to look at the due deliveries soon, but not a task of its
own: a burst of 1,000 emits should become a few drains of full batches, not 1,000 drains
of five deliveries each. On Redis a short-lived flag says "a drain will look soon": emits
skip publishing while it is set. The emit that publishes a drain sets it, and a running
drain holds it before each claim (``hold``) but its last: that drain claims again, so it
takes what commits meanwhile. Its last claim is the one made when a claim came up empty
and nothing is in flight; the drain clears the flag before it (``clear``), so a delivery
committed after that claim is covered by a new wake-up. If a queued drain is lost or a
drain dies, the flag expires and the next emit (or the periodic dispatcher) publishes
again; if a drain is too busy to claim for longer than the flag lives, the next emit
wakes another worker to help.

A drain whose claim got all it asked for calls for help (``help_with_backlog``), but only
while no task waits in the broker's queue: a waiting task means no worker is free to
take one more, and the first that frees up takes the waiting one.
"""

import logging
import time

import redis
from celery import current_app
from kombu.exceptions import OperationalError

from deliveries.engine.shared_redis import client as _redis

logger = logging.getLogger(__name__)

FLAG = "deliveries:drain-queued"
FLAG_TTL_MS = 1000
# Tasks waiting in the broker's queue below which a backlog calls for one more drain.
BACKLOG_QUEUED = 1


def should_publish() -> bool:
    client = _redis()
    if client is None:
        return True
    try:
        return bool(client.set(FLAG, 1, nx=True, px=FLAG_TTL_MS))
    except redis.RedisError:
        return True  # cannot tell: publishing (and maybe failing) is the safe side


def hold() -> None:
    """A drain is about to claim, and will claim again: emits need not publish a drain
    for what commits in the meantime. Lapses after ``FLAG_TTL_MS``
    unless the drain claims again, so a drain too busy to claim lets emits wake help."""
    client = _redis()
    if client is not None:
        try:
            client.set(FLAG, 1, px=FLAG_TTL_MS)
        except redis.RedisError as error:
            logger.warning("Could not hold the wake-up flag: %s", error)


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
    if should_publish():
        _publish()


def help_with_backlog() -> None:
    """A claim got all it asked for, so more may be due: publish a drain another worker
    can take, unless a task already waits in the broker's queue. Without Redis (the
    embedded broker, RabbitMQ) the queue cannot be counted cheaply: at most one call for
    help a flag's lifetime per process (beat's dispatcher starts drains for the rest)."""
    if _queue_is_short():
        _publish()


_last_help = -float("inf")


def _queue_is_short() -> bool:
    global _last_help
    client = _redis()
    if client is None:
        now = time.monotonic()
        if now - _last_help < FLAG_TTL_MS / 1000:
            return False
        _last_help = now
        return True
    try:
        return client.llen(current_app.conf.task_default_queue) < BACKLOG_QUEUED
    except redis.RedisError:
        return False  # the drains running and the dispatcher will do


def _publish() -> None:
    try:
        current_app.tasks[DRAIN_TASK].delay()
    except (OperationalError, OSError) as error:
        logger.warning("Could not wake the sender (%s); the dispatcher will pick it up", error)
