"""The embedded broker of `make run` (config.file_broker) shared by many processes.

Several writer and reader processes hammer one broker folder at once; every message must
be read whole, exactly once. kombu's own filesystem transport fails this test (readers
decode half-written files, kombu issue #1551), which is what ended `make run`'s worker.
"""

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time

from kombu import Connection

from config import file_broker

WRITERS = 4
READERS = 3
PER_WRITER = 750
QUEUE = "hammer"


def _connection(folder: str) -> Connection:
    return Connection(
        "filesystem://",
        transport="config.file_broker:Transport",
        transport_options={
            "data_folder_in": f"{folder}/queue",
            "data_folder_out": f"{folder}/queue",
            "control_folder": f"{folder}/control",
            "polling_interval": 0.005,
        },
    )


def _body(writer: int, seq: int) -> dict:
    # Sizes up to 200 kB: a large file takes longer to write, widening any race.
    pad = "x" * ((writer * 7919 + seq * 104729) % 200_000)
    return {"writer": writer, "seq": seq, "pad": pad, "sha": hashlib.sha1(pad.encode()).hexdigest()}


def _write(folder: str, writer: int) -> None:
    with _connection(folder) as connection:
        queue = connection.SimpleQueue(QUEUE)
        for seq in range(PER_WRITER):
            queue.put(_body(writer, seq), serializer="json")
        queue.close()


def _read(folder: str, reader: int, results: str, writers_done) -> None:
    seen = []
    with _connection(folder) as connection:
        queue = connection.SimpleQueue(QUEUE)
        idle_since = None
        while True:
            try:
                message = queue.get(block=True, timeout=0.2)
            except queue.Empty:
                if not writers_done.is_set():
                    continue
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2.0:
                    break
                continue
            idle_since = None
            body = message.payload
            whole = hashlib.sha1(body["pad"].encode()).hexdigest() == body["sha"]
            seen.append([body["writer"], body["seq"], whole])
            message.ack()
        queue.close()
    with open(f"{results}/reader-{reader}.json", "w") as file:
        json.dump(seen, file)


def test_many_writers_and_readers_read_every_message_whole_exactly_once(tmp_path):
    folder, results = tmp_path / "broker", tmp_path / "results"
    results.mkdir()
    context = multiprocessing.get_context("spawn")
    writers_done = context.Event()
    readers = [
        context.Process(target=_read, args=(str(folder), n, str(results), writers_done))
        for n in range(READERS)
    ]
    writers = [context.Process(target=_write, args=(str(folder), n)) for n in range(WRITERS)]
    for process in readers + writers:
        process.start()
    for process in writers:
        process.join(timeout=240)
        assert process.exitcode == 0, "a writer failed"
    writers_done.set()
    for process in readers:
        process.join(timeout=120)
        assert process.exitcode == 0, "a reader failed (a message it could not decode?)"

    reads = [
        tuple(read)
        for n in range(READERS)
        for read in json.loads((results / f"reader-{n}.json").read_text())
    ]
    assert all(whole for _, _, whole in reads), "a message was read partly written"
    ids = [(writer, seq) for writer, seq, _ in reads]
    assert len(ids) == len(set(ids)), "a message was read twice"
    assert set(ids) == {(w, s) for w in range(WRITERS) for s in range(PER_WRITER)}
    assert (
        sum(1 for n in range(READERS) if json.loads((results / f"reader-{n}.json").read_text())) > 1
    ), "only one reader got messages: the test did not hammer concurrently"


def test_an_undecodable_message_is_dropped_and_the_next_one_read(tmp_path, caplog):
    queue_name = "undecodable"  # bindings are remembered per process, by queue name
    folder = tmp_path / "broker"
    with _connection(str(folder)) as connection:
        queue = connection.SimpleQueue(queue_name)
        (folder / "queue" / f"{0:020d}_broken.{queue_name}.msg").write_bytes(b"")
        (folder / "queue" / f"{1:020d}_half.{queue_name}.msg").write_bytes(b'{"body": "eyJh')
        (folder / "queue" / f"{2:020d}_odd.{queue_name}.msg").write_bytes(b"[1, 2]")
        queue.put({"ok": True}, serializer="json")

        message = queue.get(block=True, timeout=5)

        assert message.payload == {"ok": True}
        message.ack()
        queue.close()
    assert caplog.text.count("Dropped an undecodable broker message") == 3
    assert not list((folder / "queue").iterdir())


def test_a_message_claimed_by_a_reader_that_died_is_put_back(tmp_path):
    queue_name = "orphans"
    folder = tmp_path / "broker"
    with _connection(str(folder)) as connection:
        queue = connection.SimpleQueue(queue_name)
        queue.put({"n": 1}, serializer="json")
        (message_file,) = (folder / "queue").iterdir()
        claimed = message_file.with_name(f"{file_broker.CLAIMED_PREFIX}99999-{message_file.name}")
        message_file.rename(claimed)
        old = time.time() - file_broker.ORPHAN_AGE - 1
        os.utime(claimed, (old, old))
        queue.close()

    with _connection(str(folder)) as connection:
        queue = connection.SimpleQueue(queue_name)
        assert queue.get(block=True, timeout=5).payload == {"n": 1}
        queue.close()


def test_the_embedded_default_uses_the_safe_transport_without_remote_control():
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    code = (
        "from config.celery import app; "
        "conf = app.conf; "
        "print(conf.broker_url, conf.broker_transport, conf.worker_enable_remote_control)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown == ["filesystem://", "config.file_broker:Transport", "False"]
