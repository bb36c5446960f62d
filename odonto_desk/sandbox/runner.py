"""Run the reference server on loopback in a background thread (the app's embedded default and
the tests' real server), or in the foreground for ``odonto-desk sandbox``."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from odonto_desk.sandbox.app import Server, ServerConfig, create_server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    server: Server
    host: str
    port: int
    _uvicorn: uvicorn.Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def fhir_base(self) -> str:
        return self.base_url + "/fhir"

    def stop(self, timeout: float = 10.0) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout)
        for hook in self.server.on_shutdown:
            hook()
        self.server.store.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(config: ServerConfig, *, host: str = "127.0.0.1", port: int = 0,
                    timeout: float = 15.0) -> RunningServer:
    """Start the server and return once it accepts connections."""
    server = create_server(config)
    port = port or free_port(host)
    uv = uvicorn.Server(uvicorn.Config(server.app, host=host, port=port, log_level="warning",
                                       access_log=False, lifespan="off"))
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=uv.run, name=f"apex-sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the reference server did not start on {host}:{port}")
        time.sleep(0.01)
    for hook in server.on_startup:
        hook()
    return RunningServer(server, host, port, uv, thread)
