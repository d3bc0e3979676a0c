"""Inside the jail: listen on loopback ports, relay each connection to a unix socket, run the agent.

This file runs *inside* the sandbox with the bare interpreter (``python -I -S``), so
it imports nothing from the app and only the standard library.  The sandbox has
its own network namespace with nothing but a loopback interface; the only ways
out are the unix sockets the app bind-mounts in, each of which the app connects
to one allow-listed endpoint (see ``app.fix.egress``).  This relay makes those
sockets look like ``127.0.0.1:PORT`` to the agent, so an unmodified CLI that
honours ``ANTHROPIC_BASE_URL`` or ``HTTPS_PROXY`` works.  It binds every port
before starting the agent, so the agent's first request never races the relay,
and it exits with the agent's exit code when the agent ends.

Usage: ``relay.py PORT=SOCKET [PORT=SOCKET ...] -- AGENT [ARGS ...]``
"""

import asyncio
import functools
import socket
import sys

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _relay(path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(path)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    for w in (writer, up_writer):
        w.close()


async def main(argv: list[str]) -> int:
    split = argv.index("--")
    routes = [spec.split("=", 1) for spec in argv[:split]]
    command = argv[split + 1 :]
    servers = []
    for port, path in routes:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(port)))
        servers.append(
            await asyncio.start_server(functools.partial(_relay, path), sock=sock, limit=CHUNK)
        )
    try:
        agent = await asyncio.create_subprocess_exec(*command)
    except OSError as exc:
        print(f"relay: execvp {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    code = await agent.wait()
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
