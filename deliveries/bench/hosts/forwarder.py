"""A TCP forwarder in the root namespace: the hosts' only way to PostgreSQL and Redis.

The services listen on 127.0.0.1 and their configuration stays as it is: this listens on
the bridge's address for each port given and relays every connection, byte for byte, to
its target. A connection's two sides are relayed by one protocol pair with flow control
(a side whose peer cannot take more stops being read), so a host whose link is cut only
stalls its own connections.

It stops with its parent (the several-hosts run), so a run killed outright leaves no
forwarder holding the ports. Run::

    python -m deliveries.bench.hosts.forwarder --listen 10.203.0.1 --parent PID \
        5432=127.0.0.1:5432 6379=127.0.0.1:6379
"""

import argparse
import asyncio
import os


class _Side(asyncio.Protocol):
    """One side of a relayed connection; what it reads is written to its peer."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.peer.transport.write(data)

    def eof_received(self):
        if self.peer is None:
            return False  # nothing to pass the end to: close
        if self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
        return True  # keep the other direction open until its own end

    def pause_writing(self):
        self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.transport.resume_reading()

    def connection_lost(self, exc):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _Client(_Side):
    """The host's side: held unread until the target's side is connected."""

    def __init__(self, target: tuple[str, int]):
        super().__init__()
        self.target = target

    def connection_made(self, transport):
        super().connection_made(transport)
        transport.pause_reading()
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self):
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(_Side, *self.target)
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.transport.close()
            return
        self.peer, upstream.peer = upstream, self
        self.transport.resume_reading()

    def data_received(self, data):
        if self.peer is not None:
            super().data_received(data)


async def _watch_parent(parent: int) -> None:
    """Return once ``parent`` is no longer this process's parent (it died)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)


async def forward(listen: str, routes: dict[int, tuple[str, int]], parent: int) -> None:
    """Relay ``listen:port`` to ``routes[port]`` for every route, until the parent dies."""
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda target=target: _Client(target), listen, port, backlog=512)
        for port, target in routes.items()
    ]
    print(f"forwarding {listen}: {routes}", flush=True)
    await _watch_parent(parent)
    for server in servers:
        server.close()


def _route(text: str) -> tuple[int, tuple[str, int]]:
    port, _, target = text.partition("=")
    host, _, target_port = target.rpartition(":")
    return int(port), (host, int(target_port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="the address to listen on")
    parser.add_argument("--parent", type=int, required=True, help="stop when this pid dies")
    parser.add_argument("routes", nargs="+", type=_route, help="PORT=HOST:PORT")
    options = parser.parse_args()
    asyncio.run(forward(options.listen, dict(options.routes), options.parent))


if __name__ == "__main__":
    main()
