"""The API's listening sockets, held by the main process so that a stop can empty them first.

Granian's own listeners (one per worker on Linux) reset the connections still waiting in their
accept queue when they close; these are bound by the main process (one per worker, SO_REUSEPORT,
so the kernel spreads connections over the workers as Granian's own do) and outlive the workers:
on stop they first turn new connections away, then wait until the workers have taken every
queued one.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import time
from collections.abc import Callable, Sequence

_SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; Python's socket module does not name it
# Classic BPF, run by the kernel on each segment for the listener, which sees it from the TCP
# header on: drop a segment with SYN set (a new connection), pass every other (the last ACK of a
# handshake already under way). A dropped SYN is retransmitted by the client after a second, and
# by then the socket is closed and the retry is refused: the client knows nothing was sent.
_DROP_SYN = (
    (0x30, 0, 0, 13),  # ldb [13]: the flags byte
    (0x45, 0, 1, 0x02),  # jset #SYN: drop, else pass
    (0x06, 0, 0, 0),  # drop: ret #0
    (0x06, 0, 0, 0xFFFFFFFF),  # pass: ret #-1 (the whole segment)
)


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter)))


def bind(host: str, port: int, backlog: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on host:port, as Granian binds one (SO_REUSEADDR, and with
    `reuse_port` SO_REUSEPORT: one of a group the kernel balances new connections over)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def refuse_new_connections(sock: socket.socket) -> None:
    """From now on the kernel drops new connection attempts; the queue and open ones stay."""
    program = (_SockFilter * len(_DROP_SYN))(*(_SockFilter(*op) for op in _DROP_SYN))
    fprog = _SockFprog(len(_DROP_SYN), program)  # the kernel copies the program during the call
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, bytes(fprog))


def accept_queue_length(sock: socket.socket) -> int:
    """Connections completed by the kernel and not yet accepted (tcpi_unacked on a listener)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    unacked: int = struct.unpack_from("=I", info, 24)[0]  # after 8 bytes and 4 u32 fields
    return unacked


def drain(
    socks: Sequence[socket.socket],
    timeout: float,
    accepting: Callable[[], bool],
    quiet: float = 0.2,
) -> int:
    """Refuse new connections on every socket, then wait until their accept queues have stayed
    empty for `quiet` seconds (handshakes under way land in them within a round trip) or nothing
    is `accepting` any more; return what is left."""
    for sock in socks:
        refuse_new_connections(sock)

    def queued() -> int:
        return sum(accept_queue_length(sock) for sock in socks)

    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while (now := time.monotonic()) < deadline and accepting():
        if queued():
            empty_since = None
        elif empty_since is None:
            empty_since = now
        elif now - empty_since >= quiet:
            return 0
        time.sleep(0.005)
    return queued()
