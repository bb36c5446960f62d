"""The README's SDK example runs end to end against a reference server it starts itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sdk_quickstart_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "sdk_quickstart.py")], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3 patients" in out.stdout
    assert "charted Condition/" in out.stdout and "chart has" in out.stdout
