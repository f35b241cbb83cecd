"""The receivers of the several-hosts run: one port per webhook, every request recorded.

Each request is answered 200 after ``--delay`` seconds (a receiver doing a little work),
and one line is logged per request: its ``webhook-id``, the address it came from (each
host has its own, so this names the host that sent it), the port it came to, when it
arrived (its first byte) and when it was answered, and whether the connection was still
open to take the answer. The delay gives each request an interval in flight, so two hosts
sending the same delivery at once show as overlapping intervals.

The log is flushed every second and on SIGTERM. Run::

    python -m deliveries.bench.hosts.receiver --log PATH --delay 0.01 9001 9002
"""

import argparse
import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from deliveries.bench.receiver import RESPONSE

WEBHOOK_ID = b"webhook-id"


@dataclass(frozen=True)
class Receipt:
    """One request as the receivers saw it (times are ``time.time()``)."""

    webhook_id: str
    source: str
    port: int
    arrived: float
    responded: float
    answered: bool

    def line(self) -> str:
        return (
            f"{self.webhook_id} {self.source} {self.port} {self.arrived:.6f} "
            f"{self.responded:.6f} {int(self.answered)}\n"
        )

    @classmethod
    def parse(cls, line: str) -> "Receipt":
        webhook_id, source, port, arrived, responded, answered = line.split()
        return cls(webhook_id, source, int(port), float(arrived), float(responded), answered == "1")


def read_log(path: Path) -> list[Receipt]:
    """Every complete line of a receivers' log."""
    with open(path) as log:
        return [Receipt.parse(line) for line in log if line.endswith("\n")]


def _parse_request(buffer: bytes) -> tuple[str, int] | None:
    """The ``webhook-id`` of the first complete request in ``buffer`` ("-" if it has
    none) and where that request ends; None while it is incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    length, webhook_id = 0, "-"
    for line in buffer[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == WEBHOOK_ID:
            webhook_id = value.strip().decode("ascii", "replace")
    end = head_end + 4 + length
    return (webhook_id, end) if len(buffer) >= end else None


class _Recording(asyncio.Protocol):
    """One connection: its requests answered in turn, each after the delay."""

    def __init__(self, port: int, delay: float, log):
        self.port, self.delay, self.log = port, delay, log
        self.buffer = b""
        self.arrived: float | None = None
        self.answering = False

    def connection_made(self, transport):
        self.transport = transport
        self.source = transport.get_extra_info("peername")[0]

    def data_received(self, data):
        if self.arrived is None:
            self.arrived = time.time()
        self.buffer += data
        self._next()

    def _next(self):
        if self.answering:
            return
        parsed = _parse_request(self.buffer)
        if parsed is None:
            return
        webhook_id, end = parsed
        self.buffer = self.buffer[end:]
        self.answering = True
        arrived, self.arrived = self.arrived, (time.time() if self.buffer else None)
        asyncio.get_running_loop().call_later(self.delay, self._answer, webhook_id, arrived)

    def _answer(self, webhook_id: str, arrived: float):
        answered = not self.transport.is_closing()
        if answered:
            self.transport.write(RESPONSE)
        receipt = Receipt(webhook_id, self.source, self.port, arrived, time.time(), answered)
        self.log.write(receipt.line())
        self.answering = False
        self._next()


async def serve(ports: list[int], delay: float, log_path: Path) -> None:
    """Answer and record on every port until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(log_path, "a", buffering=1 << 20) as log:
        servers = [
            await loop.create_server(
                lambda port=port: _Recording(port, delay, log), "0.0.0.0", port, backlog=1024
            )
            for port in ports
        ]
        print(f"receivers on ports {ports}", flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1)
            log.flush()
        for server in servers:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds before answering")
    parser.add_argument("ports", nargs="+", type=int)
    options = parser.parse_args()
    asyncio.run(serve(options.ports, options.delay, options.log))


if __name__ == "__main__":
    main()
