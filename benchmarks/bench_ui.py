"""The desktop app: starting it, repainting the odontogram, and its memory with a patient open.

- ``cold_start``: spawn ``python -m odonto_desk`` on a prepared data folder (a synced cache of the
  demo patients, the chart's kept first frame, and a settings file naming the last patient) until
  it prints "ready", i.e. until that patient's chart is painted and the odontogram answers.
  Baseline: spawning a bare PySide6 window to its first event-loop turn. ``editable_s`` is the
  same start until "editable": the chart read from the cache is shown and the charting panel
  works (the services and domain models are imported after the first paint). Extra fields say
  where the start-up goes (``-X importtime``).
- ``odontogram_repaint``: ``Odontogram.paint_chart`` into a same-sized QImage, all 32 permanent
  teeth shown and marked. Baseline: a painter without the picture cache, rendering every drawing
  (and each marked element) with ``QSvgRenderer.render`` into the same layout cells on each paint.
- ``rss_patient_open``: resident memory of a fresh process holding the main window with the demo
  patient open from a synced cache (no server in that process). Baseline: a bare PySide6 window.

Subprocess timings run from just before the spawn to the line on the child's stdout, so both the
app and its baseline pay the same interpreter start.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _timing import percentiles, workdir

ROOT = Path(__file__).resolve().parent.parent
PATIENT = "demo-rivera"
DENTIST_KEY = "apx_sandbox_dentist_key"  # the reference server's published demo key (README)
SPAWN_TIMEOUT_S = 60.0

# A bare PySide6 window: the floor any Qt app start (and any Qt app's memory) sits on.
BARE_WINDOW = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1360, 820)
window.show()

def ready():
    print("ready", flush=True)
    app.quit()

QTimer.singleShot(0, ready)
app.exec()
"""

# Prints this process's resident set (now and peak, MB) from /proc as one JSON line.
PRINT_RSS = """
def print_rss(**extra):
    fields = dict(extra)
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    print(json.dumps(fields), flush=True)
"""

BARE_WINDOW_RSS = PRINT_RSS + """
import json, sys
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1360, 820)
window.show()
for _ in range(5):
    app.processEvents()
print_rss()
"""

# The main window on a synced cache and no server anywhere: open the patient, paint, measure.
PATIENT_OPEN_RSS = PRINT_RSS + """
import json, sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv[:1])
from odonto_desk.services.session import Role, Server, Session, User
from odonto_desk.ui.main_window import MainWindow
from odonto_desk.ui.settings import Settings

cache_path, ini, patient = sys.argv[1:4]
settings = Settings(QSettings(ini, QSettings.Format.IniFormat))
session = Session(User("Bench", Role.DENTIST), Server(base_url=None), cache_path)
window = MainWindow(session, settings, sync=False)
window.show()
deadline = time.monotonic() + 30
while window.chart_tab.view is None or window.chart_tab.view.patient.id != patient:
    if time.monotonic() > deadline:
        raise SystemExit(f"{patient} did not open")
    app.processEvents()
    time.sleep(0.005)
window.repaint()
for _ in range(5):
    app.processEvents()
view = window.chart_tab.view
print_rss(marks=len(view.marks), teeth=len(view.teeth), rows=window.chart_tab.marks.rowCount())
window.close()
session.close()
"""


# A cold start of the app with clocks around its phases (the app's code is not changed: its classes
# are wrapped from outside). Prints "ready" as the app does, then one JSON line of phase times.
PHASED_START = """
import time
T0 = time.perf_counter()
import json, sys
marks, totals, counts = {}, {}, {}

def stamp(name):
    marks.setdefault(name, time.perf_counter() - T0)

def timed(cls, attr, name, *, first=None):
    original = getattr(cls, attr)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
            counts[name] = counts.get(name, 0) + 1
            if first:
                stamp(first)
    setattr(cls, attr, wrapper)

class Stamped:
    def __init__(self, out):
        self.out = out
    def write(self, text):
        if text.strip() in ("ready", "editable"):
            stamp(text.strip())
        return self.out.write(text)
    def flush(self):
        self.out.flush()

sys.stdout = Stamped(sys.stdout)
from PySide6 import QtCore, QtGui, QtSvg, QtWidgets
stamp("qt_imported")
import odonto_desk.app as app_module
from odonto_desk.services import embedded, session
from odonto_desk.ui import main_window, settings
stamp("app_imported")
QtWidgets.QApplication(sys.argv[:1])
stamp("qapplication")
from odonto_desk.ui.chart.tab import ChartTab
from odonto_desk.ui.odontogram.art import ToothArt
from odonto_desk.ui.odontogram.marks import ToothPainter
timed(main_window.MainWindow, "__init__", "main_window_init", first="window_built")
timed(main_window.MainWindow, "_show_first_frame", "first_frame_read")
timed(main_window.MainWindow, "_attach", "attach", first="attached")
timed(main_window.MainWindow, "_fill_patients", "fill_patients", first="patients_listed")
timed(ChartTab, "_show", "chart_show", first="chart_shown")
timed(ToothArt, "_render", "svg_render")
timed(ToothPainter, "compose", "tooth_compose")
code = app_module.run(sys.argv[:1])
sys.stdout = sys.stdout.out
print(json.dumps({"marks": marks, "totals": totals, "counts": counts}), flush=True)
raise SystemExit(code)
"""


def _child_env(pycache: Path | None = None, **extra: str) -> dict[str, str]:
    """The benchmark's environment, with the repo importable and Qt drawing offscreen.

    With ``pycache``, children keep their bytecode there (as an installed app has its ``.pyc``
    files) even where the shell says PYTHONDONTWRITEBYTECODE, and never write into the checkout.
    """
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


# --- a data folder with a synced cache ---------------------------------------------------------------


def prepare_data_folder(folder: Path) -> Path:
    """Sync the demo patients into the embedded server's cache file and write the settings file.

    The cache is filled by the app's own sync against an in-thread reference server; the file is
    named as the app names the embedded server's cache, so a cold start opens it as it would at a
    practice. Returns the cache path.
    """
    from odonto_desk.api.auth import ApiKey
    from odonto_desk.app import cache_file
    from odonto_desk.sandbox.app import ServerConfig
    from odonto_desk.sandbox.runner import start_in_thread
    from odonto_desk.sandbox.seed import seed_demo_if_empty
    from odonto_desk.services.session import Role, Server, Session, User

    folder.mkdir(parents=True, exist_ok=True)
    path = cache_file(folder, "")
    with start_in_thread(ServerConfig(db_path=folder.parent / f"{folder.name}-apex.sqlite")) as running:
        seed_demo_if_empty(running.server)
        session = Session(User("Bench", Role.DENTIST), Server(base_url=running.base_url, embedded=True), path,
                          credentials=ApiKey(DENTIST_KEY))
        try:
            session.sync().run_once()
        finally:
            session.close()
    write_settings(folder / "settings.ini")
    return path


def write_settings(path: Path) -> None:
    """Signed in as a dentist, the embedded server, no idle lock, the demo patient last open."""
    from PySide6.QtCore import QSettings

    q = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in (("persist/user", "Bench"), ("persist/role", "dentist"), ("persist/last_patient", PATIENT),
                       ("setting/server_url", ""), ("setting/idle_lock_minutes", 0)):
        q.setValue(key, value)
    q.sync()
    if q.status() != QSettings.Status.NoError:
        raise OSError(f"could not write {path}")


# --- cold_start ------------------------------------------------------------------------------------


def spawn_to_line(argv: list[str], env: dict[str, str], line: str = "ready") -> tuple[float, str]:
    """Seconds from just before spawning ``argv`` to ``line`` on its stdout, and the stdout after it."""
    times, rest = spawn_to_lines(argv, env, (line,))
    return times[line], rest


def spawn_to_lines(argv: list[str], env: dict[str, str], lines: tuple[str, ...]) -> tuple[dict[str, float], str]:
    """Seconds from just before spawning ``argv`` to each of ``lines`` on its stdout (in that order), and
    the stdout after the last.

    The child is reaped (and killed if it outlives :data:`SPAWN_TIMEOUT_S`) after the clocks stop.
    """
    t0 = time.perf_counter()
    times: dict[str, float] = {}
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for out in proc.stdout:
            if out.strip() in lines and out.strip() not in times:
                times[out.strip()] = time.perf_counter() - t0
                if len(times) == len(lines):
                    break
        else:
            proc.wait(SPAWN_TIMEOUT_S)
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{argv[1:3]} exited {proc.returncode} without {lines!r} (saw {sorted(times)}): "
                               f"{err[-2000:]}")
        rest, _ = proc.communicate(timeout=SPAWN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return times, rest


def _app_argv(*flags: str) -> list[str]:
    return [sys.executable, *flags, "-m", "odonto_desk"]


def phases(env: dict[str, str]) -> dict[str, Any]:
    """One cold start with clocks on its phases (:data:`PHASED_START`), in seconds.

    Up to "ready": ``python_start`` is the interpreter's own start (spawn-to-ready less the script's
    clock at ready), then the imports, the window with the kept first frame (``of_which_first_frame_read``:
    reading it from the cache) and its first paint (``of_which_svg_render``: drawings rendered into
    the picture cache). After "ready", to "editable": importing the services and models on a worker
    thread and attaching them, listing the patients, then the chart read from the cache on a worker
    thread (``chart_load``) and shown.
    """
    times, rest = spawn_to_lines([sys.executable, "-c", PHASED_START], env, ("ready", "editable"))
    got = json.loads(rest.strip().splitlines()[-1])
    m, totals, counts = got["marks"], got["totals"], got["counts"]
    out = {
        "python_start": times["ready"] - m["ready"],
        "import_qt": m["qt_imported"],
        "import_app": m["app_imported"] - m["qt_imported"],
        "qapplication_and_window": m["window_built"] - m["app_imported"],
        "of_which_first_frame_read": totals.get("first_frame_read", 0.0),
        "first_paint": m["ready"] - m["window_built"],
        "of_which_svg_render": totals.get("svg_render", 0.0),
        "ready": times["ready"],
        "services_import_and_attach": m["attached"] - m["ready"],
        "patient_list": m["patients_listed"] - m["attached"],
        "chart_load": m["chart_shown"] - m["patients_listed"] - totals["chart_show"],
        "chart_show_and_paint": m["editable"] - m["chart_shown"] + totals["chart_show"],
        "editable": times["editable"],
    }
    return {**{k: round(v, 3) for k, v in out.items()}, "svg_renders": counts.get("svg_render", 0)}


def import_profile(env: dict[str, str], top: int = 8) -> dict[str, Any]:
    """One cold start under ``-X importtime``: the costliest non-stdlib imports, and time by package.

    ``import_top`` is by cumulative time (a module with everything it imported first); packages
    nest, so the list reads as a path down the heaviest branch. ``import_self_by_package`` sums
    each top-level package's own time, which adds up without double counting; ``pulled_in_by``
    names the app module whose import first brought each of those packages in.
    """
    proc = subprocess.run(_app_argv("-X", "importtime"), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=SPAWN_TIMEOUT_S)
    rows = _importtime_rows(proc.stderr)
    stdlib = sys.stdlib_module_names
    ours = [r for r in rows if r[0].split(".")[0] not in stdlib and not r[0].startswith("_")]
    by_package: dict[str, int] = {}
    for name, self_us, _, _ in ours:
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
    heaviest = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    return {
        "import_total_ms": round(sum(r[1] for r in rows) / 1000, 1),
        "import_top": [{"module": n, "cumulative_ms": round(c / 1000, 1)}
                       for n, _, c, _ in sorted(ours, key=lambda r: -r[2])[:top]],
        "import_self_by_package": {p: round(us / 1000, 1) for p, us in heaviest},
        "pulled_in_by": {p: _importer(rows, p) for p, _ in heaviest if p != "odonto_desk"},
    }


def _importtime_rows(stderr: str) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` lines as (module, self µs, cumulative µs, depth), in the order printed."""
    rows = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or raw.count("|") != 2 or "[us]" in raw:
            continue
        self_us, cumulative_us, name = raw[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), int(self_us), int(cumulative_us), depth))
    return rows


def _importer(rows: list[tuple[str, int, int, int]], package: str) -> str:
    """The nearest ``odonto_desk`` module above ``package``'s first import in the import tree.

    importtime prints a module after everything it imported, so a row's importer is the next row
    below it one level up. A package with no app module above it was imported by
    :func:`odonto_desk.app.run` itself.
    """
    i = next((n for n, r in enumerate(rows) if r[0].split(".")[0] == package), None)
    while i is not None:
        name, depth = rows[i][0], rows[i][3]
        if name.startswith("odonto_desk"):
            return name
        i = next((n for n in range(i + 1, len(rows)) if rows[n][3] < depth), None)
    return "odonto_desk.app.run"  # imported at run time, outside any module's import


def cold_start(quick: bool) -> list[dict]:
    runs = 3 if quick else 7
    with workdir("ui") as work:
        folder = work / "data"
        prepare_data_folder(folder)
        app_env = _child_env(work / "pycache", ODONTO_DESK_DATA=str(folder), ODONTO_DESK_EXIT_WHEN_READY="1")
        bare_env = _child_env(work / "pycache")
        bare_argv = [sys.executable, "-c", BARE_WINDOW]
        # One unmeasured start of each warms the OS file cache and writes the bytecode caches.
        spawn_to_line(_app_argv(), app_env)
        spawn_to_line(bare_argv, bare_env)
        app_s, editable_s, bare_s = [], [], []
        for _ in range(runs):  # interleaved, so a noisy neighbour hits both alike
            bare_s.append(spawn_to_line(bare_argv, bare_env)[0])
            times, _ = spawn_to_lines(_app_argv(), app_env, ("ready", "editable"))
            app_s.append(times["ready"])
            editable_s.append(times["editable"])
        profile = {"phases_s": phases(app_env), **import_profile(app_env)}
    value, baseline = statistics.median(app_s), statistics.median(bare_s)
    ratio = value / baseline
    editable = statistics.median(editable_s)
    return [{"name": "cold_start", "value": round(value, 3), "unit": "s median", "baseline": round(baseline, 3),
             "ratio": round(ratio, 2), "baseline_is": "bare PySide6 QMainWindow, spawn to first event-loop turn",
             "runs": runs, "min": round(min(app_s), 3), "max": round(max(app_s), 3),
             "baseline_min": round(min(bare_s), 3), "goal": "ratio <= 3", "met": ratio <= 3,
             "editable_s": round(editable, 3), "editable_ratio": round(editable / baseline, 2), **profile}]


# --- odontogram_repaint ----------------------------------------------------------------------------

CHART_SIZE = (1200, 640)


def _qapp() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def every_tooth_marked() -> list[Any]:
    """At least one mark on each of the 32 permanent teeth, cycling through the kinds a chart shows.

    Surfaces are taken from each tooth's own (so anterior teeth get I and F, posterior O and B), and
    planned extractions are used so the tooth is still drawn under its cross.
    """
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.domain.surfaces import surfaces_of
    from odonto_desk.domain.teeth import PERMANENT_TEETH

    def marks_for(n: int, tooth: Any) -> list[dict[str, Any]]:
        s = [x.value for x in surfaces_of(tooth)]  # mesial, occlusal/incisal, distal, facial, lingual order
        by_kind = [
            [dict(kind="filling", status="eo", surfaces=s[:3], material="amalgam")],
            [dict(kind="crown", status="ec", material="porcelain"), dict(kind="root canal", status="c")],
            [dict(kind="caries", status="cn", surfaces=s[:2]), dict(kind="filling", status="tp", surfaces=s[3:],
                                                                    material="composite")],
            [dict(kind="implant", status="c", material="titanium"), dict(kind="crown", status="c",
                                                                         material="zirconia")],
            [dict(kind="extraction", status="tp")],
            [dict(kind="filling", status="c", surfaces=s, material="composite"), dict(kind="watch", status="cn")],
            [dict(kind="root canal", status="tp"), dict(kind="caries", status="cn", surfaces=s[1:3])],
            [dict(kind="crown", status="tp", material="gold"), dict(kind="post and core", status="tp")],
        ]
        return by_kind[n % len(by_kind)]

    return [ChartMark(tooth=tooth, **spec) for n, tooth in enumerate(PERMANENT_TEETH) for spec in marks_for(n, tooth)]


class NaivePainter:
    """The chart drawn without a picture cache: every SVG rendered into its cell on every paint.

    Renderers are parsed once (re-parsing files would be a straw man); per paint it renders each
    tooth's drawing in both views into the layout's cells, mirrored for the patient's left, then
    each marked element (surfaces, crown, canals, roots) on top, the symbols as lines, and the
    tooth numbers. It draws less than the real painter (no tints, patterns or masks), so its time
    is a lower bound and the speedup against it is conservative.
    """

    def __init__(self, widget: Any) -> None:
        from PySide6.QtSvg import QSvgRenderer

        from odonto_desk.ui.odontogram.art import ASSETS, drawing_name

        self.widget = widget
        self.renderers = {}
        for cell in widget.layout_now().cells:
            name = drawing_name(cell.tooth, cell.view)
            self.renderers.setdefault(name, QSvgRenderer(str(ASSETS / f"{name}.svg")))

    def paint(self, p: Any) -> None:
        from PySide6.QtCore import QRectF, Qt

        from odonto_desk.domain.teeth import Side
        from odonto_desk.ui.odontogram.art import drawing_name

        p.fillRect(self.widget.rect(), self.widget.palette().base())
        for cell in self.widget.layout_now().cells:
            renderer = self.renderers[drawing_name(cell.tooth, cell.view)]
            p.save()
            p.translate(cell.rect.topLeft())
            if cell.tooth.base.side is Side.LEFT:
                p.translate(cell.rect.width(), 0)
                p.scale(-1, 1)
            box = QRectF(0, 0, cell.rect.width(), cell.rect.height())
            renderer.render(p, box)
            for mark in self.widget.marks_on(cell.tooth):
                for element in self._elements(mark, renderer):
                    self._render_element(p, renderer, element, box)
                self._symbol(p, mark, box)
            p.restore()
        layout = self.widget.layout_now()
        for tooth in self.widget.teeth:
            p.drawText(layout.label_rect(tooth), Qt.AlignmentFlag.AlignCenter, tooth.format())

    @staticmethod
    def _elements(mark: Any, renderer: Any) -> list[str]:
        kind = mark.kind.value
        if mark.surfaces:
            wanted = [f"surface-{s.value}" for s in mark.surfaces]
        elif kind in ("crown", "bridge abutment", "bridge pontic"):
            wanted = ["crown", "outline"]
        elif kind in ("root canal", "post and core"):
            wanted = [f"canal-{i}" for i in range(1, 4)]
        elif kind == "implant":
            wanted = [f"root-{i}" for i in range(1, 4)]
        else:
            wanted = []
        return [e for e in wanted if renderer.elementExists(e)]

    @staticmethod
    def _render_element(p: Any, renderer: Any, element: str, box: Any) -> None:
        from PySide6.QtCore import QRectF

        view = renderer.viewBoxF()
        sx, sy = box.width() / view.width(), box.height() / view.height()
        bounds = renderer.transformForElement(element).mapRect(renderer.boundsOnElement(element))
        renderer.render(p, element, QRectF(bounds.x() * sx, bounds.y() * sy, bounds.width() * sx,
                                           bounds.height() * sy))

    @staticmethod
    def _symbol(p: Any, mark: Any, box: Any) -> None:
        kind = mark.kind.value
        if kind == "extraction":
            p.drawLine(box.topLeft(), box.bottomRight())
            p.drawLine(box.topRight(), box.bottomLeft())
        elif kind == "implant":
            p.drawEllipse(box.center(), box.width() * 0.18, box.width() * 0.18)


def _paint_ms(paint: Any, size: tuple[int, int], iterations: int) -> list[float]:
    """Milliseconds per full paint into a fresh QPainter on one same-sized image, ``iterations`` times."""
    from PySide6.QtGui import QImage, QPainter

    image = QImage(*size, QImage.Format.Format_ARGB32_Premultiplied)
    samples = []
    for _ in range(iterations):
        t = time.perf_counter()
        p = QPainter(image)
        paint(p)
        p.end()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def odontogram_repaint(quick: bool) -> list[dict]:
    from odonto_desk.domain.teeth import PERMANENT_TEETH
    from odonto_desk.ui.odontogram.art import ToothArt
    from odonto_desk.ui.odontogram.widget import Odontogram

    _qapp()
    iterations, baseline_iterations = (60, 10) if quick else (300, 40)
    art = ToothArt()
    widget = Odontogram(art=art)
    widget.resize(*CHART_SIZE)
    marks = every_tooth_marked()
    widget.set_chart(PERMANENT_TEETH, marks)
    assert all(widget.marks_on(t) for t in PERMANENT_TEETH), "every tooth must carry a mark"
    _paint_ms(widget.paint_chart, CHART_SIZE, 3)  # warm: renders and composes every picture once
    renders = art.renders
    ours = _paint_ms(widget.paint_chart, CHART_SIZE, iterations)
    rendered_while_timed = art.renders - renders
    # The paint after a change of selection: the chart is composed again from the tooth pictures.
    flip = [PERMANENT_TEETH[2], PERMANENT_TEETH[13]]

    def recompose(p: Any) -> None:
        flip.reverse()
        widget.select(flip[0])
        widget.paint_chart(p)

    _paint_ms(recompose, CHART_SIZE, 3)
    recomposed = statistics.median(_paint_ms(recompose, CHART_SIZE, iterations))
    naive = NaivePainter(widget)
    _paint_ms(naive.paint, CHART_SIZE, 2)
    base = _paint_ms(naive.paint, CHART_SIZE, baseline_iterations)
    median, p95 = percentiles(ours, 50, 95)
    base_median = statistics.median(base)
    speedup = base_median / median
    return [{"name": "odontogram_repaint", "value": round(median, 3), "unit": "ms median",
             "baseline": round(base_median, 3), "ratio": round(median / base_median, 4),
             "baseline_is": "QSvgRenderer.render of every drawing and marked element on each paint",
             "p95": round(p95, 3), "speedup": round(speedup, 1), "iterations": iterations,
             "baseline_iterations": baseline_iterations, "baseline_p95": round(percentiles(base, 95)[0], 3),
             "cells": len(widget.layout_now().cells), "marks": len(marks),
             "svg_renders_while_timed": rendered_while_timed, "size": list(CHART_SIZE),
             "recompose_median_ms": round(recomposed, 3),  # after a selection change: composed again
             "goal": "median <= 1 ms and >= 10x faster", "met": median <= 1 and speedup >= 10}]


# --- rss_patient_open ------------------------------------------------------------------------------


def _child_json(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter and return the first JSON line it prints."""
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=SPAWN_TIMEOUT_S)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"child exited {proc.returncode} without a result: {proc.stderr[-2000:]}")


def rss_patient_open(quick: bool) -> list[dict]:
    from odonto_desk.app import cache_file

    runs = 1 if quick else 3
    with workdir("ui") as work:
        folder = work / "data"
        prepare_data_folder(folder)  # synced here: the measured process has no server in it
        env = _child_env(work / "pycache")
        args = (str(cache_file(folder, "")), str(folder / "settings.ini"), PATIENT)
        opened = [_child_json(PATIENT_OPEN_RSS, *args, env=env) for _ in range(runs)]
        bare = [_child_json(BARE_WINDOW_RSS, env=env) for _ in range(runs)]
    rss = statistics.median(r["VmRSS"] for r in opened)
    hwm = statistics.median(r["VmHWM"] for r in opened)
    base = statistics.median(r["VmRSS"] for r in bare)
    return [{"name": "rss_patient_open", "value": round(rss, 1), "unit": "MB RSS", "baseline": round(base, 1),
             "ratio": round(rss / base, 2), "baseline_is": "bare PySide6 QMainWindow process",
             "peak_mb": round(hwm, 1), "baseline_peak_mb": round(statistics.median(r["VmHWM"] for r in bare), 1),
             "runs": runs, "patient": PATIENT, "marks": opened[0]["marks"], "teeth": opened[0]["teeth"],
             "perio": "not measured (the perio screen is not built yet)",
             "goal": "<= 200 MB", "met": rss <= 200}]


BENCHMARKS = {"cold_start": cold_start, "odontogram_repaint": odontogram_repaint,
              "rss_patient_open": rss_patient_open}
