"""Forward TCP ports: `tcp_mirror.py LISTEN_HOST TARGET_HOST PORT...` listens on
LISTEN_HOST:PORT for each PORT and copies every connection both ways to TARGET_HOST:PORT
(the same port number). Runs until killed.

The network-namespace test (tests/support/netns.py) runs one inside each namespace
(127.0.0.1 -> the host's end of the veth pair) and one on the host (the host's end of the
pair -> 127.0.0.1): a role in the namespace then reaches the session's servers at the
addresses they advertise (Kafka's and Cassandra's 127.0.0.1:PORT), but every byte crosses
the veth pair, as it would cross a network between hosts."""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


async def _serve(listen: str, target: str, port: int) -> asyncio.Server:
    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(target, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    return await asyncio.start_server(connected, listen, port, reuse_address=True)


async def main(listen: str, target: str, ports: list[int]) -> None:
    servers = [await _serve(listen, target, port) for port in ports]
    print("listening", flush=True)  # the parent waits for this line
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], [int(port) for port in sys.argv[3:]]))
