"""A Unix-socket relay in front of a PostgreSQL server that can forget its connections, as a
stateful firewall or NAT drops idle ones: silent while the client waits, the connection fails
only when the client next sends (its query then meets a closed connection).

Terminating the backend instead (pg_terminate_backend) closes the client's socket at once, which
the service's pool sees on checkout; this is the failure it cannot see before the query.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from pathlib import Path


class _Link:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.application = ""
        self.forgotten = False


class ForgetfulRelay:
    """Relays the server listening in socket folder `target` on `port` from `folder` (same
    port); `forget` drops what is open now."""

    def __init__(self, target: Path, port: int, folder: Path) -> None:
        name = f".s.PGSQL.{port}"
        self._target = str(target / name)
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        self.folder = folder
        self.port = port
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(folder / name))
        (folder / name).chmod(0o777)
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def dsn(self, user: str, dbname: str) -> str:
        return f"postgresql://{user}@/{dbname}?host={self.folder}&port={self.port}"

    def forget(self, keep_application: str) -> int:
        """Drop every open connection but those whose application_name starts with
        `keep_application`; the server side is closed now, the client side on its next send."""
        with self._lock:
            dropped = [
                link
                for link in self._links
                if not link.forgotten and not link.application.startswith(keep_application)
            ]
            for link in dropped:
                link.forgotten = True
        for link in dropped:
            with contextlib.suppress(OSError):
                link.server.shutdown(socket.SHUT_RDWR)
        return len(dropped)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            _drop(link)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self._target)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _upstream(self, link: _Link) -> None:
        first = b""
        while True:
            try:
                data = link.client.recv(65536)
            except OSError:
                data = b""
            if not data or link.forgotten:
                _drop(link)  # a forgotten connection fails here, on the client's next send
                return
            if not link.application and len(first) < 8192:
                first += data
                link.application = _application_name(first)
            try:
                link.server.sendall(data)
            except OSError:
                _drop(link)  # the server went away
                return

    def _downstream(self, link: _Link) -> None:
        while True:
            try:
                data = link.server.recv(65536)
            except OSError:
                data = b""
            if link.forgotten:
                return  # silent: the client learns nothing until it sends
            if not data:
                with contextlib.suppress(OSError):
                    link.client.shutdown(socket.SHUT_WR)
                return
            try:
                link.client.sendall(data)
            except OSError:
                return


def _drop(link: _Link) -> None:
    for sock in (link.client, link.server):
        with contextlib.suppress(OSError):
            sock.close()


def _application_name(startup: bytes) -> str:
    """application_name from a StartupMessage (length, protocol 3.0, key/value pairs)."""
    if len(startup) < 8:
        return ""
    length, protocol = struct.unpack("!ii", startup[:8])
    if protocol != 196608 or len(startup) < length:
        return ""
    parts = startup[8:length].split(b"\0")
    pairs = dict(zip(parts[::2], parts[1::2], strict=False))
    return pairs.get(b"application_name", b"").decode(errors="replace") or "?"
