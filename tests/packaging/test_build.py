"""The one-folder desktop build: made by packaging/build.py into a tmp folder, then started as a
practice's workstation would start it, with no Python of ours anywhere near it.

The built binary runs with a clean environment (no virtualenv, no PYTHONPATH, PATH=/usr/bin:/bin,
HOME and the XDG folders in the test's tmp folder, the working folder outside the checkout):
``odonto-desk --smoke-test OUT.png`` must open the window, start the embedded reference server from
the same binary, show a demo patient's chart with its marks from that server, write a picture of
the window, print one JSON line and exit 0, leaving no server process behind.

The folder is checked both ways: what the app needs is in it (Qt plugins, QtSvg and QtPrintSupport,
the tooth SVGs, odonto_desk's resources, the FHIR R4B models, every odonto_desk module, the desktop
entry and icons) and what it does not need is not (test tools, unused Qt modules, tests, R5 models).

The figures (build seconds, size, files, seconds to the chart) and the picture are written to
tests/_output/ for a person to read and look at. The build takes about a minute on two cores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from helpers import processes_mentioning
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
OUTPUT = ROOT / "tests" / "_output"

pytestmark = pytest.mark.slow


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contents = load("contents")


@dataclass
class Built:
    app: Path
    binary: Path
    figures: dict
    modules: set[str]  # what the binary's module archive holds

    @property
    def internal(self) -> Path:
        return self.app / "_internal"

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.app)) for p in self.app.rglob("*") if p.is_file() or p.is_symlink())


def archived_modules(binary: Path) -> set[str]:
    from PyInstaller.archive.readers import CArchiveReader

    return set(CArchiveReader(str(binary)).open_embedded_archive("PYZ.pyz").toc)


@pytest.fixture(scope="module")
def built(tmp_path_factory, request) -> Iterator[Built]:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed: pip install -e '.[build]' (./dev test installs it)")
    where = tmp_path_factory.mktemp("build")
    proc = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--dist", str(where / "dist"),
                           "--work", str(where / "work")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    binary = Path(figures["binary"])
    assert binary.is_file() and os.access(binary, os.X_OK)
    shutil.rmtree(where / "work")  # PyInstaller's work files: ~100 MB nobody reads
    failed_before = request.session.testsfailed
    yield Built(Path(figures["app"]), binary, figures, archived_modules(binary))
    if request.session.testsfailed == failed_before:  # kept for a look when a test of it failed
        shutil.rmtree(where)  # 240 MB, and pytest keeps the tmp folders of the last three runs


def record(**figures: object) -> None:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / "packaging-build.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(figures)
    path.write_text(json.dumps(known, indent=2) + "\n")


def test_the_folder_has_what_the_app_needs(built):
    internal = built.internal
    qt = internal / "PySide6"
    for plugin in contents.NEEDED_QT_PLUGINS:
        assert (qt / "Qt" / "plugins" / plugin).is_file(), plugin
    for module in contents.SHIPPED_QT:
        name = module.split(".")[1]
        assert (qt / f"{name}.abi3.so").is_file(), module
        assert (qt / "Qt" / "lib" / f"libQt6{name[2:]}.so.6").is_file(), module
    teeth = sorted(p.name for p in (ROOT / "assets" / "teeth_svg").glob("*.svg"))
    assert len(teeth) > 40
    assert sorted(p.name for p in (internal / "assets" / "teeth_svg").glob("*.svg")) == teeth
    resources = sorted(p.name for p in (ROOT / "odonto_desk" / "resources").iterdir() if p.suffix != ".py"
                       and p.is_file())
    for name in ("apex-odonto-v1.openapi.yaml", "odonto-golden-bundle.r4.json",
                 "StructureDefinition-tooth-number.json", "StructureDefinition-tooth-surface.json"):
        assert name in resources
    for name in resources:
        shipped = internal / "odonto_desk" / "resources" / name
        assert shipped.read_bytes() == (ROOT / "odonto_desk" / "resources" / name).read_bytes(), name
    assert (internal / "odonto_desk" / "domain" / "cdt_demo.csv").is_file()
    ours = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in (ROOT / "odonto_desk").rglob("*.py")}
    assert ours - built.modules == set(), "odonto_desk modules missing from the build"
    for module in ("fhir.resources.R4B.patient", "fhir.resources.R4B.bundle", "fhir.resources.R4B.procedure",
                   "fhir.resources.R4B.observation", "fhir.resources.R4B.claim", "fhir_core.fhirabstractmodel",
                   "uvicorn", "fastapi", "httpx", "pydicom", "keyring.backends.SecretService", "pyqtgraph",
                   "sqlite_utils", "pluggy", "colorama"):
        assert module in built.modules, module
    share = built.app / "share"
    assert (share / "applications" / "odonto-desk.desktop").read_bytes() == \
        (PACKAGING / "odonto-desk.desktop").read_bytes()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "odonto-desk.svg").is_file()
    for size in (16, 32, 48, 64, 128, 256):
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "odonto-desk.png").is_file()
    # Every library a shipped file links is shipped, or one PyInstaller leaves to the system on purpose.
    assert load("build").unshipped_libraries(built.app) == {}


NOT_WANTED_FILES = re.compile(
    r"(^|/)(pytest|_pytest|pytestqt|hypothesis|schemathesis|ruff|importlinter|PyInstaller|pip|setuptools)"
    r"([-_./]|$)|Qt6?WebEngine|Qt6?Qml|Qt6?Quick|QtWebEngine|QtQml|QtQuick|Qt/qml/|Qt/translations/"
    r"|(^|/)tests?/|libqeglfs|libqlinuxfb|libqvnc|libqgtk3", re.IGNORECASE)


def test_the_folder_has_nothing_the_app_does_not_need(built):
    files = built.files()
    assert [f for f in files if NOT_WANTED_FILES.search(f)] == []
    assert [f for f in files if (built.app / f).is_symlink() and not (built.app / f).exists()] == []
    unwanted_top = {m.split(".")[0] for m in built.modules} & {
        "pytest", "_pytest", "pytestqt", "hypothesis", "schemathesis", "ruff", "importlinter", "grimp",
        "PyInstaller", "pip", "setuptools", "pkg_resources", "rich", "pygments", "requests", "tests"}
    assert unwanted_top == set()
    excluded = tuple(contents.NOT_SHIPPED_PACKAGES + contents.NOT_SHIPPED_QT)
    assert [m for m in built.modules if m in excluded or m.startswith(tuple(e + "." for e in excluded))] == []
    assert [m for m in built.modules if not contents.shipped_module(m)] == []  # fhir.resources' R5 models


def pixels(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert not image.isNull(), f"{path} is not an image"
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()  # outlives the QImage


def test_the_built_app_charts_a_demo_patient_on_a_clean_environment(built, tmp_path, qapp):
    home = tmp_path / "home"
    work = tmp_path / "somewhere-else"
    work.mkdir()
    png = tmp_path / "chart.png"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    proc = subprocess.Popen([str(built.binary), "--smoke-test", str(png), "--smoke-timeout", "120"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, err[-4000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["smoke"] == "ok"
    assert result["patient"] and result["gpid"].startswith("APX-")
    assert result["marks"] > 0
    assert result["qt_platform"] == "offscreen"
    assert result["font_families"] > 0  # the system's fonts, through the shipped fontconfig
    assert result["server"].startswith("http://127.0.0.1:")

    # The data went where the XDG folders say, and the server was stopped, not left running.
    data = home / ".local" / "share" / "odonto-desk"
    assert (data / "apex-sandbox.sqlite").is_file() and (data / "cache-embedded.sqlite").is_file()
    assert "Finished server process" in (data / "embedded-server.log").read_text()
    deadline = time.monotonic() + 5
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(tmp_path)) == []
    assert [p for p in Path("/proc").iterdir() if p.name.isdigit() and _session_of(p) == proc.pid] == []

    # A real chart, not an empty window: thousands of colours, a third of the window drawn on.
    image = pixels(png)
    height, width, _ = image.shape
    assert width >= 1000 and height >= 700
    flat = image.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(colours) > 1000
    assert 1 - counts.max() / len(flat) > 0.2

    OUTPUT.mkdir(exist_ok=True)
    shutil.copy2(png, OUTPUT / "packaging-smoke.png")
    record(build_seconds=built.figures["build_seconds"], size_mb=built.figures["size_mb"],
           files=built.figures["files"], smoke_seconds_to_chart=result["seconds_to_chart"],
           smoke_wall_seconds=round(wall, 1), patient=result["patient"], marks=result["marks"])


def _session_of(proc_dir: Path) -> int | None:
    """The session id of a process (field 6 of /proc/PID/stat), or None if it is gone."""
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])
