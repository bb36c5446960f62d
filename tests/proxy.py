"""A real TCP proxy on loopback that makes network faults on purpose (tests only).

The client under test talks to the proxy; the proxy talks to the real sandbox. Faults are made
in the bytes on the wire, never by patching the client:

* ``down()`` / ``up()``: while down, every connection is accepted and closed at once (as a dead
  network or a stopped server looks to a client).
* ``lose_responses(n)``: the next ``n`` responses are swallowed after the server has answered, and
  the connection is cut: the write happened, but the client never hears so.
* ``cut_requests(n)``: the next ``n`` requests are cut after their first bytes reach the proxy; the
  server never sees them whole.
* ``fail_requests(n, status=503, every=1)``: the proxy answers ``n`` requests itself with a 5xx and
  an OperationOutcome, as a gateway in front of a failing server does; those requests never reach
  the server. ``every=2`` fails every other one.
* ``latency(seconds)``: a slow link: every chunk waits ``seconds`` before it is passed on, either
  way (``latency(0)`` lifts it).
* ``reset_mid_body(n, after=0, every=1)``: ``n`` responses get their status line, headers and
  half of their body through, then the connection is reset (TCP RST): the server has answered,
  and the client sees a response that breaks off in the middle. The first ``after`` responses
  pass untouched, and ``every - 1`` pass between two resets (``every=2``: every other one).
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
import time

_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.IGNORECASE | re.MULTILINE)


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
        self._reset = 0
        self._reset_skip = 0
        self._reset_every = 1
        self._delay = 0.0
        self._fail = 0
        self._fail_every = 1
        self._fail_seen = 0
        self._fail_status = 503
        self.failed = 0
        self.connections = 0
        self.lost = 0
        self.resets = 0
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

    def fail_requests(self, n: int = 1, *, status: int = 503, every: int = 1) -> None:
        with self._lock:
            self._fail, self._fail_status, self._fail_every, self._fail_seen = n, status, max(1, every), 0

    def _fail_now(self, data: bytes) -> int | None:
        """The status to answer this chunk from the client with, when it starts a request to fail."""
        if data[:8].split(b" ", 1)[0] not in (b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD"):
            return None  # the rest of a request already let through
        with self._lock:
            if self._fail <= 0:
                return None
            self._fail_seen += 1
            if (self._fail_seen - 1) % self._fail_every:
                return None
            self._fail -= 1
            self.failed += 1
            return self._fail_status

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._delay = max(0.0, seconds)

    def reset_mid_body(self, n: int = 1, *, after: int = 0, every: int = 1) -> None:
        with self._lock:
            self._reset, self._reset_skip, self._reset_every = n, after, max(1, every)

    def _reset_now(self, data: bytes) -> bool:
        """Whether this chunk from the server starts a response that must be broken off."""
        if not data.startswith(b"HTTP/"):
            return False  # the rest of a response already let through
        with self._lock:
            if self._reset <= 0:
                return False
            if self._reset_skip > 0:
                self._reset_skip -= 1
                return False
            self._reset -= 1
            self._reset_skip = self._reset_every - 1
            return True

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
                    with self._lock:
                        delay = self._delay
                    if delay:
                        time.sleep(delay)
                    if s is server and self._reset_now(data):
                        self._break_off(client, server, data)
                        return
                    if s is client and (status := self._fail_now(data)) is not None:
                        body = (b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient",'
                                b'"diagnostics":"upstream unavailable"}]}')
                        client.sendall(b"HTTP/1.1 %d Service Unavailable\r\ncontent-type: application/fhir+json\r\n"
                                       b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, len(body), body))
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

    def _break_off(self, client: socket.socket, server: socket.socket, data: bytes) -> None:
        """Pass the head of a response and half its body on, then reset the client's connection.

        Reads on until the headers and the whole body (or, chunked, its first bytes) have come, so
        the cut lands inside the body rather than wherever the server's writes happened to split.
        """
        while b"\r\n\r\n" not in data or self._body_wanted(data) > 0:
            more = server.recv(65536)
            if not more:
                break
            data += more
        head, sep, body = data.partition(b"\r\n\r\n")
        sent = head + sep + body[: len(body) // 2] if len(body) > 1 else data[: max(1, len(head) // 2)]
        client.sendall(sent)
        self.resets += 1
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()

    @staticmethod
    def _body_wanted(data: bytes) -> int:
        """How many more body bytes to wait for: all of them when the length is known, two of a
        chunked body, none when the response has no body (204, 304)."""
        head, _, body = data.partition(b"\r\n\r\n")
        found = _LENGTH.search(head)
        if found:
            return int(found.group(1)) - len(body)
        return 2 - len(body) if _CHUNKED.search(head) else 0
