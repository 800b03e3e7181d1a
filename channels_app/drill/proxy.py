"""A TCP proxy on 127.0.0.1 that can refuse connections on demand (the database "down").

It forwards to a TCP address or a Unix socket. ``block()`` closes the listener and every
connection through it, so clients see their connections reset and new ones refused, at once;
``unblock()`` listens again on the same port. ``hold()`` keeps accepting and keeps every
connection open but forwards no byte either way (a hung server: connections are accepted, no
answer comes) until ``unblock()``, which lets the held bytes through. Other users of the real
server are untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class FaultProxy:
    def __init__(self, *, target_unix: str = "", target_host: str = "", target_port: int = 0):
        self.target_unix = target_unix
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> int:
        self._listen()
        return self.port

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _connect_target(self) -> socket.socket:
        if self.target_unix:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target_unix)
        else:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        return upstream

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # closed by block()/stop()
            try:
                upstream = self._connect_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                self._flowing.wait()
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def block(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = set(self._sockets), set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        for sock in sockets:
            self._close(sock)

    def hold(self) -> None:
        self._flowing.clear()

    def unblock(self) -> None:
        self._flowing.set()
        if self._listener is None:
            self._listen()

    def stop(self) -> None:
        self._flowing.set()
        self.block()
