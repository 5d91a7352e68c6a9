"""A total deadline for one outbound exchange (an SMTP message, an HTTP call).

Socket timeouts bound each read or write, not the exchange: a server that answers one
byte every few seconds never trips them and can hold a worker for as long as it likes.
A `Deadline` is a watchdog thread that, when its time passes, shuts down every socket it
was told to watch; the blocked read or write in the worker's thread then ends at once
with an error, whatever the server does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

SocketGetter = Callable[[], socket.socket | None]


class Deadline:
    """`with Deadline(seconds) as deadline: deadline.watch(lambda: conn.sock); ...`

    Sockets are watched through a getter, read when the deadline fires, because a
    connection may replace its socket (STARTTLS wraps it in a new object)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._watched: list[SocketGetter] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def watch(self, get_socket: SocketGetter) -> None:
        with self._lock:
            self._watched.append(get_socket)
            expired = self.expired
        if expired:  # watched too late: the time is already up
            self._shut(get_socket)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._watched)
        for get_socket in watched:
            self._shut(get_socket)

    @staticmethod
    def _shut(get_socket: SocketGetter) -> None:
        sock = get_socket()
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to end
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
