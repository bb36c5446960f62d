"""The embedded reference server: with no server configured, the app runs its own on loopback.

It runs as a child process (``odonto-desk sandbox``) so the server's work never competes with the
UI thread, with its SQLite file in the user's data folder and the demo patients seeded on first
start. Plain blocking Python, no Qt.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from odonto_desk.services.session import Server


def odonto_desk_command(*args: str) -> list[str]:
    """The command line that runs ``odonto-desk ARGS`` in a child process.

    From source it is this interpreter with ``-m odonto_desk``. A frozen build (PyInstaller) has no
    interpreter to give ``-m`` to: its ``sys.executable`` is the app's own binary, which takes the
    subcommand directly, so the embedded server runs from the same binary as the app.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "odonto_desk", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """Start with :meth:`start`; :meth:`wait_ready` blocks until it answers; :meth:`stop` at exit."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.server = Server(base_url=f"http://127.0.0.1:{self.port}", embedded=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "embedded-server.log"

    def start(self) -> Server:
        """Start the child process; a server already running is kept (each sign-in asks again)."""
        if self._proc is not None and self._proc.poll() is None:
            return self.server
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self._proc = subprocess.Popen(
            odonto_desk_command("sandbox", "--host", "127.0.0.1", "--port", str(self.port),
                                "--db", str(self.data_dir / "apex-sandbox.sqlite")),
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        return self.server

    def wait_ready(self, timeout: float = 60.0) -> bool:
        import httpx  # here, not at import: the app starts before it needs HTTP

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.server.base_url}/status", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
