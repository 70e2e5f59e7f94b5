"""Listening sockets for the servers coderouge runs (the voting page, the gateway)."""

from __future__ import annotations

import socket

from .errors import UsageError


def listen(host: str, port: int) -> tuple[socket.socket, str]:
    """A socket bound to host:port (port 0: any free one), and the URL root it serves. A busy or
    forbidden address is one clear UsageError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}"
