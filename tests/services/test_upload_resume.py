"""Acceptance: the app is killed (SIGKILL) in the middle of an upload and started again; the upload
resumes where the server stopped, and the server holds one whole file with the same SHA-256.

The uploads run in real child processes through the imaging service; a real loopback proxy slows
the bytes on their way to the server so the kill lands mid-upload."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import test_imaging_service as shared
from helpers import DENTIST_KEY, session_on
from test_imaging_service import RIVERA, make_dicom

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.imaging import ImagingService, UploadState

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 16 * 1024
apex, template = shared.apex, shared.template  # the module's server with demo patients, and its synced cache

CHILD = """
import sys
from odonto_desk.api.auth import ApiKey
from odonto_desk.services.imaging import ImagingService
from odonto_desk.services.session import Role, Server, Session, User

cache_path, base, key, chunk = sys.argv[1:5]
session = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=base), cache_path, credentials=ApiKey(key))
service = ImagingService(session, chunk_size=int(chunk))
report = service.upload_pending(on_progress=lambda job, done, total: print("progress", done, total, flush=True))
print("sent", len(report.sent), "waiting", report.waiting, flush=True)
session.close()
"""


class SlowProxy:
    """A loopback TCP proxy passing request bytes on at ``rate`` bytes a second (answers at full speed)."""

    def __init__(self, target_port: int, rate: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.rate = rate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, self.rate), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        block = 4096
        try:
            while data := src.recv(block):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def _child(cache_path: Path, base: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(cache_path), base, DENTIST_KEY, str(CHUNK)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _progress(line: str) -> int | None:
    parts = line.split()
    return int(parts[1]) if parts and parts[0] == "progress" else None


def test_an_upload_killed_mid_way_resumes_in_a_new_process_and_the_server_holds_one_whole_file(apex, template,
                                                                                               tmp_path):
    rng = np.random.default_rng(11)  # noise does not compress: the proxy sees every byte
    original = make_dicom(tmp_path / "pano.dcm", rows=320, columns=640,
                          pixels=rng.integers(0, 4096, size=(1, 320, 640)))
    (tmp_path / "app").mkdir()
    setup = session_on(apex.base_url, template, tmp_path / "app" / "cache.sqlite")
    job, _ = ImagingService(setup).import_image(RIVERA, original, teeth=[Tooth("30")], title="Pano")
    setup.close()
    cache_path = tmp_path / "app" / "cache.sqlite"
    proxy = SlowProxy(int(apex.base_url.rsplit(":", 1)[1]), rate=200_000)  # ~2 s for the 410 kB file

    first = _child(cache_path, proxy.url)
    killed_at = 0
    try:
        assert first.stdout is not None
        for line in first.stdout:
            done = _progress(line)
            if done is not None and done >= job.size // 3:
                first.send_signal(signal.SIGKILL)
                killed_at = done
                break
    finally:
        first.wait(timeout=30)
        proxy.close()
    assert first.returncode == -signal.SIGKILL and 0 < killed_at < job.size

    with ApexClient(apex.base_url, credentials=ApiKey(DENTIST_KEY)) as client:
        after_kill = queued_jobs(cache_path, apex.base_url)[0]
        assert after_kill.upload_id and after_kill.state == UploadState.WAITING
        held = settled_status(client, after_kill.upload_id)  # a chunk already on the wire may still land
        assert held["status"] == "open" and killed_at <= held["received"] < job.size

        second = _child(cache_path, apex.base_url)  # the app started again, network direct
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 0, out
        sent = [_progress(line) for line in out.splitlines() if _progress(line) is not None]
        assert sent[0] == held["received"] + CHUNK  # it went on from the server's offset, not from zero
        assert "sent 1 waiting 0" in out

        final = queued_jobs(cache_path, apex.base_url)[0]
        assert final.state == UploadState.SENT and final.upload_id == after_kill.upload_id
        r = client.request("GET", f"{apex.base_url}/odonto/v1/imaging/files/{final.upload_id}")
        assert hashlib.sha256(r.content).hexdigest() == job.sha256 == hashlib.sha256(original.read_bytes()).hexdigest()
        docs = client.search_page("DocumentReference", {"patient": RIVERA})
        titles = [e["resource"]["content"][0]["attachment"].get("title") for e in docs.get("entry", [])]
        assert titles.count("Pano") == 1  # one document: the resumed upload did not make a second


def settled_status(client: ApexClient, upload_id: str) -> dict:
    """The server's state of an upload once it has stopped changing (0.5 s without a new chunk)."""
    state = client.upload_status(upload_id)
    for _ in range(40):
        time.sleep(0.5)
        again = client.upload_status(upload_id)
        if again["received"] == state["received"]:
            return again
        state = again
    raise AssertionError("the killed upload kept growing")


def queued_jobs(cache_path: Path, base: str) -> list:
    """The upload queue as a freshly started app reads it from the cache file."""
    from odonto_desk.services.session import Role, Server, Session, User

    s = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=base), cache_path, credentials=ApiKey(DENTIST_KEY))
    try:
        return ImagingService(s).jobs()
    finally:
        s.close()
