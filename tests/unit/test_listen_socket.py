"""What the graceful stop needs from the kernel (escrowgrid/listen_socket.py), on real sockets."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from escrowgrid import listen_socket

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a Linux socket filter")


def _connect(port: int, timeout: float = 0.5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def test_the_accept_queue_is_counted_and_new_connections_wait_then_are_refused() -> None:
    server = listen_socket.bind("127.0.0.1", 0, 16)
    port = server.getsockname()[1]
    queued = [_connect(port) for _ in range(3)]
    assert listen_socket.accept_queue_length(server) == 3
    listen_socket.refuse_new_connections(server)
    with pytest.raises(TimeoutError):  # the SYN is dropped: the client is still retrying
        _connect(port)
    # What the kernel had already completed stays, and works.
    accepted, _ = server.accept()
    queued[0].sendall(b"ping")
    assert accepted.recv(4) == b"ping"
    assert listen_socket.accept_queue_length(server) == 2
    server.close()
    with pytest.raises(ConnectionRefusedError):
        _connect(port)
    for sock in (*queued, accepted):
        sock.close()


def test_drain_waits_for_the_queue_to_be_taken() -> None:
    server = listen_socket.bind("127.0.0.1", 0, 16)
    queued = [_connect(server.getsockname()[1]) for _ in range(2)]
    taken: list[socket.socket] = []

    def worker() -> None:
        time.sleep(0.3)
        taken.extend(server.accept()[0] for _ in queued)

    thread = threading.Thread(target=worker)
    thread.start()
    started = time.monotonic()
    assert listen_socket.drain([server], 5, lambda: True) == 0
    assert len(taken) == 2 and time.monotonic() - started >= 0.3 + 0.2
    thread.join()
    # Nobody accepting: the drain gives up at once and says how many are left.
    late = listen_socket.bind("127.0.0.1", 0, 16)
    waiting = _connect(late.getsockname()[1])
    assert listen_socket.drain([late], 5, lambda: False) == 1
    for sock in (server, late, waiting, *queued, *taken):
        sock.close()
