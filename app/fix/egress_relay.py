"""Inside the jail: listen on loopback ports, relay each connection to a unix socket, run the agent.

This file runs *inside* the sandbox with the bare interpreter (``python -I -S``), so
it imports nothing from the app and only the standard library (threads, not
asyncio: the import alone cost a few hundred milliseconds per agent run).  The
sandbox has its own network namespace with nothing but a loopback interface; the
only ways out are the unix sockets the app bind-mounts in, each of which the app
connects to one allow-listed endpoint (see ``app.fix.egress``).  This relay makes
those sockets look like ``127.0.0.1:PORT`` to the agent, so an unmodified CLI that
honours ``ANTHROPIC_BASE_URL`` or ``HTTPS_PROXY`` works.  It binds every port
before starting the agent, so the agent's first request never races the relay,
and it exits with the agent's exit code when the agent ends.

Usage: ``relay.py PORT=SOCKET [PORT=SOCKET ...] -- AGENT [ARGS ...]``
"""

import contextlib
import os
import socket
import subprocess
import sys
import threading

CHUNK = 65536


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    sending = threading.Thread(target=_pipe, args=(client, upstream), daemon=True)
    sending.start()
    _pipe(upstream, client)
    sending.join()
    client.close()
    upstream.close()


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, path), daemon=True).start()


def main(argv: list[str]) -> int:
    split = argv.index("--")
    routes = [spec.split("=", 1) for spec in argv[:split]]
    command = argv[split + 1 :]
    for port, path in routes:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(port)))
        listener.listen(64)
        threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    try:
        agent = subprocess.Popen(command)
    except OSError as exc:
        print(f"relay: execvp {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    code = agent.wait()
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # daemon threads may still be blocked in accept()
