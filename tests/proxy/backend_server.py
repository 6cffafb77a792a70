"""A test backend: answers TCP and UDP with its name and the client's address.

Run as `python backend_server.py NAME PORT [PORT...]` inside a network
namespace. Each line a TCP client sends gets the line "NAME CLIENT_IP\\n"
back and the connection stays open, so a test can hold an established
flow. An HTTP GET gets that line as the body of an HTTP/1.0 response, for
curl. Every UDP datagram gets the same line back.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


async def main(name: str, ports: list[int]) -> None:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        reply = f"{name} {peer}\n".encode()
        try:
            while line := await reader.readline():
                if line.startswith(b"GET "):
                    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + reply)
                    await writer.drain()
                    break
                writer.write(reply)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(f"{name} {addr[0]}\n".encode(), addr)

    loop = asyncio.get_running_loop()
    servers = []
    for port in ports:
        servers.append(await asyncio.start_server(on_connection, "0.0.0.0", port))
        await loop.create_datagram_endpoint(Echo, local_addr=("0.0.0.0", port))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], [int(port) for port in sys.argv[2:]]))
