"""The embedded reference server's child process: one per app, whatever the number of sign-ins."""

from __future__ import annotations

from helpers import processes_mentioning

from odonto_desk.services.embedded import EmbeddedServer


def test_starting_again_keeps_the_running_server_and_stop_leaves_none(tmp_path):
    embedded = EmbeddedServer(tmp_path)
    try:
        embedded.start()
        first = embedded._proc
        embedded.start()  # a second sign-in asks again
        assert embedded._proc is first
        assert embedded.wait_ready(60)
        assert len(processes_mentioning(str(tmp_path))) == 1
    finally:
        embedded.stop()
    assert first is not None and first.poll() is not None
    assert processes_mentioning(str(tmp_path)) == []
