"""The embedded broker of ``make run``: kombu's filesystem transport, made safe to share.

kombu's own filesystem transport (kombu 5.7) loses and crashes on races between
processes, which the embedded setup has plenty of (web, beat, the demo traffic and the
worker all publish; the worker reads):

- a writer creates a message file and only then writes it, so a reader that lists the
  folder in between moves away an empty or half-written file and fails to decode it:
  ``JSONDecodeError`` in the worker's consumer, an "Unrecoverable error" that ends the
  worker (kombu issue #1551), and the message is lost;
- a reader claims a file by moving it to the system's temporary folder, which is a copy
  (not a rename) when that folder is on another file system: two readers can both read it;
- an exchange's binding table is rewritten in place, so a publisher can read it empty.

Here every file is written under a hidden name and renamed into place (a rename is
atomic within a folder), a reader claims a message by renaming it within the same folder
(only one rename of a name can succeed), and a file that still cannot be decoded is
logged and dropped rather than raised: delivery rows are the truth, and beat re-sends
what is due. ``config/settings.py`` selects this transport for ``filesystem://``.
"""

import logging
import os
import time
import uuid
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# Hidden files are never listed as messages (a message file is "<key>.<queue>.msg").
STAGING_PREFIX = ".staging-"
CLAIMED_PREFIX = ".claimed-"
# A staged or claimed file this old belongs to a process that died mid-step.
ORPHAN_AGE = 600.0


def _write_atomically(folder: Path, name: str, data: bytes) -> None:
    """Write ``data`` to ``folder/name`` so that no reader ever sees it partly written."""
    staging = folder / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(staging, "wb") as file:
            file.write(data)
        os.replace(staging, folder / name)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._recover_orphans()

    # Messages.

    def _put(self, queue, payload, **kwargs):
        # Wall-clock nanoseconds, zero-padded: names sort in publishing order across
        # processes and restarts (kombu's monotonic milliseconds restart at boot).
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        try:
            _write_atomically(Path(self.data_folder_out), name, dumps(payload).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to the broker folder") from exc

    def _get(self, queue):
        folder = Path(self.data_folder_in)
        suffix = f".{queue}.msg"
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(suffix))
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
            raise Empty() from None
        for name in names:
            if name.partition(".")[2] != suffix[1:]:
                continue  # another queue whose name ends like this one's
            claimed = folder / f"{CLAIMED_PREFIX}{os.getpid()}-{name}"
            try:
                os.rename(folder / name, claimed)
            except OSError:
                continue  # another reader claimed it first
            try:
                data = claimed.read_bytes()
            finally:
                claimed.unlink(missing_ok=True)
            payload = self._decode(name, data)
            if payload is not None:
                return payload
        raise Empty()

    def _decode(self, name: str, data: bytes) -> dict | None:
        """The message in ``data``, or None (logged) when it is not one."""
        try:
            payload = loads(data.decode())
            properties = payload["properties"]
            if "body" in payload and "delivery_tag" in properties:
                return payload
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
        logger.error(
            "Dropped an undecodable broker message %s (%d bytes, starting %r); the "
            "database rows are the truth and beat re-sends what is due.",
            name,
            len(data),
            data[:80],
        )
        return None

    def _recover_orphans(self) -> None:
        """Delete staged files and put back claimed messages of processes that died."""
        folder = Path(self.data_folder_in)
        now = time.time()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if now - entry.stat().st_mtime < ORPHAN_AGE:
                    continue
                if entry.name.startswith(STAGING_PREFIX):
                    os.unlink(entry.path)
                elif entry.name.startswith(CLAIMED_PREFIX):
                    original = entry.name.removeprefix(CLAIMED_PREFIX).partition("-")[2]
                    os.rename(entry.path, folder / original)
                    logger.warning("Put back broker message %s, claimed by a dead reader", original)
            except OSError:
                continue  # another process recovered it first

    # Bindings: the table of an exchange is rewritten whole, under a lock, and renamed
    # into place, so a publisher reading it never sees it empty.

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(file.read_bytes().decode())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*binding) for binding in table]

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: table if binding in table else [binding, *table])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual channel's own bookkeeping, then the table file.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: [b for b in table if b != binding])

    def _change_table(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        folder = Path(self.control_folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(folder / ".bindings.lock", "a") as lock:
                filesystem.lock(lock, filesystem.LOCK_EX)
                try:
                    table = self.get_table(exchange)
                    changed = change(table)
                    if changed != table:
                        _write_atomically(folder, file.name, dumps(changed).encode())
                finally:
                    filesystem.unlock(lock)
        except OSError as exc:
            raise ChannelError(f"Cannot write {file}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
