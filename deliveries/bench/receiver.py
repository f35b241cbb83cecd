"""A minimal keep-alive HTTP receiver for the throughput benchmark.

It answers every request with 200 as cheaply as Python allows (asyncio, no framework), so
the benchmark measures the sender and not the receiver; a request to a path under
``/dead`` is never answered, like an endpoint that hangs. Run: python -m
deliveries.bench.receiver PORT
"""

import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            dead = self.buffer.split(b" ", 2)[1].startswith(b"/dead")
            self.buffer = self.buffer[end:]
            if not dead:
                self.transport.write(RESPONSE)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    print(f"bench receiver on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
