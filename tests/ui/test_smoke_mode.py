"""``odonto-desk --smoke-test OUT.png`` when it cannot reach the chart in time, and when misused.

The run that reaches the chart is tested from source in tests/packaging/test_contents.py (with what
the build leaves out made unimportable) and from the built app in tests/packaging/test_build.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import processes_mentioning

from odonto_desk.cli import main


def test_a_timeout_says_what_it_waited_for_exits_1_and_stops_the_server(tmp_path):
    png = tmp_path / "chart.png"
    env = {"HOME": str(tmp_path), "ODONTO_DESK_DATA": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen", "PATH": os.environ["PATH"]}
    proc = subprocess.run([sys.executable, "-m", "odonto_desk", "--smoke-test", str(png), "--smoke-timeout", "0.2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""  # no JSON line: nothing was shown
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("odonto-desk --smoke-test: no chart after 0.2 s: still waiting for the first sync")
    assert str(tmp_path / "data" / "embedded-server.log") in message
    assert not png.exists()
    deadline = time.monotonic() + 5
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(tmp_path)) == []  # the embedded server was stopped


def test_smoke_test_with_another_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--smoke-test", "out.png", "sandbox"])
    assert exc.value.code == 2
    assert "--smoke-test starts the app" in capsys.readouterr().err
