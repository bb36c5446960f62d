"""A real TCP proxy on loopback that makes network faults on purpose (tests only).

The client under test talks to the proxy; the proxy talks to the real sandbox. Faults are made
in the bytes on the wire, never by patching the client:

* ``down()`` / ``up()``: while down, every connection is accepted and closed at once (as a dead
  network or a stopped server looks to a client).
* ``lose_responses(n)``: the next ``n`` responses are swallowed after the server has answered, and
  the connection is cut: the write happened, but the client never hears so.
* ``cut_requests(n)``: the next ``n`` requests are cut after their first bytes reach the proxy; the
  server never sees them whole.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._down = False
        self._lose = 0
        self._cut = 0
        self.connections = 0
        self.lost = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def lose_responses(self, n: int = 1) -> None:
        with self._lock:
            self._lose += n

    def cut_requests(self, n: int = 1) -> None:
        with self._lock:
            self._cut += n

    def close(self) -> None:
        self._closing = True
        self._listener.close()

    def _take(self, what: str) -> bool:
        with self._lock:
            left = getattr(self, what)
            if left > 0:
                setattr(self, what, left - 1)
                return True
            return False

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with self._lock:
                down = self._down
            if down:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        socks = [client, server]
        try:
            while True:
                readable, _, _ = select.select(socks, [], [], 30)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        if self._take("_cut"):
                            server.sendall(data[: max(1, len(data) // 2)])
                            return
                        server.sendall(data)
                    else:
                        if self._take("_lose"):
                            self.lost += 1
                            return
                        client.sendall(data)
        except OSError:
            return
        finally:
            for s in socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
