"""The agent's only way out of the jail: unix sockets wired to allow-listed model endpoints.

The agent runs in a network namespace of its own, with loopback only, so it
cannot reach the host's loopback (the app's port, the database) nor anything
else.  For each run the app opens a private directory of unix sockets, which is
bind-mounted into the jail:

* ``fwd-PORT.sock`` for a loopback endpoint (a model server or gateway on the
  operator's own machine, as the tests use): every connection is joined to that
  one ``host:port``, and the relay inside the jail listens on the same port, so
  ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` works unchanged;
* ``proxy.sock`` for everything else: an HTTP ``CONNECT`` proxy (what
  ``HTTPS_PROXY`` means to every HTTP client) that tunnels only to a listed
  ``host:port`` and answers ``403`` otherwise.  TLS stays end to end between the
  agent and the model provider; the app only sees which host was asked for.

Nothing here parses more than one request line and its headers, and the
allow-list is an exact match on ``host:port``: an IP literal, another port on
an allowed host, or a name that is not listed is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CHUNK = 65536
MAX_REQUEST_HEAD = 8192
HEAD_TIMEOUT_S = 30.0
PROXY_PORT = 3128  # the port the relay listens on inside the jail for the CONNECT proxy
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, order=True)
class Endpoint:
    """One ``host:port`` the agent may reach."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        """The endpoint of a base URL (``https://api.anthropic.com`` → port 443)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.hostname.lower(), parts.port or default)

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``host:port`` or a URL, as operators write them in ``SANDBOX_AGENT_HOSTS``."""
        text = text.strip()
        if "://" in text:
            return cls.from_url(text)
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not host:port")
        return cls(host.strip("[]").lower(), int(port))


class EgressGate:
    """Serves the per-run sockets; use as ``async with EgressGate(endpoints, directory)``."""

    def __init__(self, endpoints: Iterable[Endpoint], directory: Path) -> None:
        self.endpoints = frozenset(endpoints)
        self.directory = directory
        self.refused: list[str] = []
        self._servers: list[asyncio.Server] = []

    def relay_routes(self, mount: str) -> list[str]:
        """``PORT=SOCKET`` arguments for the relay, with sockets as seen inside at ``mount``."""
        routes = [
            f"{e.port}={mount}/fwd-{e.port}.sock" for e in sorted(self.endpoints) if e.loopback
        ]
        if self.needs_proxy:
            routes.append(f"{PROXY_PORT}={mount}/proxy.sock")
        return routes

    @property
    def needs_proxy(self) -> bool:
        return any(not e.loopback for e in self.endpoints)

    async def __aenter__(self) -> EgressGate:
        loopback_ports: dict[int, Endpoint] = {}
        for endpoint in sorted(self.endpoints):
            if not endpoint.loopback:
                continue
            if endpoint.port in loopback_ports:
                raise ValueError(
                    f"{endpoint} and {loopback_ports[endpoint.port]} share a port; "
                    "list a loopback model endpoint once"
                )
            loopback_ports[endpoint.port] = endpoint
            path = self.directory / f"fwd-{endpoint.port}.sock"
            self._servers.append(
                await asyncio.start_unix_server(
                    functools.partial(self._forward, endpoint), path=path
                )
            )
        if self.needs_proxy:
            self._servers.append(
                await asyncio.start_unix_server(self._proxy, path=self.directory / "proxy.sock")
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _forward(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        except OSError as exc:
            log.warning("the agent's model endpoint %s is unreachable: %s", endpoint, exc)
            writer.close()
            return
        await _join(reader, writer, up_reader, up_writer)

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        target = _connect_target(head[:MAX_REQUEST_HEAD])
        if target is None or target not in self.endpoints:
            asked = head.split(b"\r\n", 1)[0][:200].decode("latin-1")
            self.refused.append(asked)
            log.warning("the agent asked for %r, which is not an allowed model endpoint", asked)
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await _join(reader, writer, up_reader, up_writer)


def _connect_target(head: bytes) -> Endpoint | None:
    """The ``host:port`` of a ``CONNECT host:port HTTP/1.x`` request line, else None."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        return None
    try:
        return Endpoint.parse(parts[1])
    except ValueError:
        return None


async def _join(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for w in (writer, up_writer):
            w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
