"""``odonto-desk perio classify CASE.json``: JSON out on success, exit code 2 and a message on bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from odonto_desk.cli import main

CASE = {
    "age": 40,
    "teeth_present": [str(n) for n in range(2, 16)] + [str(n) for n in range(18, 32)],
    "teeth_lost_to_periodontitis": 0,
    "sites": [
        {"tooth": "3", "site": "MB", "pd": 6, "gm": 0, "bleeding": True},
        {"tooth": "14", "site": "DL", "pd": 5, "gm": 1, "bleeding": True},
    ],
    "rbl_percent": {"3": 45},
    "cigarettes_per_day": 0,
    "diabetes": False,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_module_entry_point_prints_the_classification(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(CASE))
    proc = subprocess.run([sys.executable, "-m", "odonto_desk", "perio", "classify", str(path)],
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["diagnosis"], out["stage"], out["grade"]) == ("periodontitis", "III", "C")  # 45 % ÷ 40 > 1.0
    assert "stage.cal.ge5" in [r["rule"] for r in out["reasons"]]


def test_module_entry_point_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, '{"sites": [')
    proc = subprocess.run([sys.executable, "-m", "odonto_desk", "perio", "classify", str(path)],
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr and proc.stdout == ""


def test_main_names_the_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {**CASE, "sites": [{"tooth": "3", "site": "MB", "pd": 22}]}
    assert main(["perio", "classify", str(write(tmp_path, json.dumps(bad)))]) == 2
    assert "sites[0].pd" in capsys.readouterr().err


def test_main_exits_2_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perio", "classify", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_main_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    assert main(["perio", "classify", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["diagnosis"] == "undetermined"
