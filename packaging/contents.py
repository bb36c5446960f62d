"""What the one-folder build ships and what it leaves out: the lists and filters that
``packaging/odonto-desk.spec`` applies, in plain Python so that tests read them without PyInstaller.

Everything here works on PyInstaller's TOC entries, ``(dest_name, source, typecode)`` tuples: for a
module ``(dotted.name, path, "PYMODULE")``, for a file ``("PySide6/Qt/plugins/…", path, "BINARY")``
and for a symlink ``("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK")``.
tests/packaging/test_contents.py runs the app from source with these packages made unimportable,
so an exclusion the app needs fails there in seconds rather than in the build test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

# The test and developer tools installed next to the app in .venv, and what only they pull in.
# (pluggy and colorama look like test tools but are not: sqlite-utils loads its plugins with pluggy,
# and pyqtgraph.debug imports colorama on every platform.)
NOT_SHIPPED_PACKAGES = [
    "tkinter", "_tkinter", "turtle", "idlelib", "lib2to3", "pydoc_data",
    "pytest", "_pytest", "pytestqt", "py", "iniconfig",
    "hypothesis", "_hypothesis_pytestplugin", "_hypothesis_globals", "_hypothesis_ftz_detector",
    "schemathesis", "hypothesis_graphql", "graphql", "harfile", "werkzeug",
    "ruff", "importlinter", "grimp", "pip", "setuptools", "pkg_resources", "_distutils_hack",
    "PyInstaller", "_pyinstaller_hooks_contrib", "altgraph",
    "IPython", "matplotlib", "scipy", "pandas", "OpenGL",
    "PyQt5", "PyQt6", "PySide2",
    "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter", "pyqtgraph.canvas", "pyqtgraph.flowchart",
    "fhir.resources.STU3", "fhir.resources.DSTU2",
    # Optional extras that load only because the test tools installed them: httpx's own command
    # line (httpx imports it in a try and does without it), and what it and schemathesis pull in.
    # pydicom uses requests only to download its test files, and tries for it in a try too.
    "httpx._main", "rich", "pygments", "markdown_it", "mdurl", "requests", "urllib3", "charset_normalizer",
]

# Packages in NOT_SHIPPED_PACKAGES that a shipped distribution declares as a requirement all the
# same, and why leaving them out is right (tests/packaging/test_contents.py holds every other one out).
LEFT_OUT_THOUGH_REQUIRED = {
    "pip": "sqlite-utils requires pip for its `sqlite-utils install` command, which the app never runs",
}

# Qt modules the app never imports: it uses QtCore, QtGui, QtWidgets, QtSvg and QtPrintSupport only.
NOT_SHIPPED_QT = [
    f"PySide6.{m}" for m in (
        "QtWebEngineCore", "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel", "QtWebSockets",
        "QtQml", "QtQuick", "QtQuickWidgets", "QtQuickControls2", "QtQuick3D", "Qt3DCore", "Qt3DRender",
        "QtMultimedia", "QtMultimediaWidgets", "QtCharts", "QtDataVisualization", "QtGraphs",
        "QtOpenGL", "QtOpenGLWidgets", "QtSql", "QtTest", "QtDesigner", "QtHelp", "QtUiTools",
        "QtBluetooth", "QtNfc", "QtPositioning", "QtLocation", "QtSensors", "QtSerialPort",
        "QtRemoteObjects", "QtScxml", "QtStateMachine", "QtTextToSpeech", "QtPdf", "QtPdfWidgets",
        "QtNetwork", "QtNetworkAuth", "QtHttpServer", "QtSpatialAudio", "QtConcurrent", "QtDBus", "QtXml",
        "QtAxContainer", "QtCanvasPainter",
    )
]
SHIPPED_QT = ["PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg", "PySide6.QtPrintSupport"]

# Qt plugins a workstation does not use: embedded-device platforms (eglfs, linuxfb, vnc, Vulkan
# display) and their input plugins, the GTK3 theme (it drags in GTK's whole stack; Qt's own Fusion
# look and the xdg portal theme remain), and image formats the app never reads or shows. Kept: the
# xcb and wayland platforms (a desktop), offscreen and minimal (headless runs, tests), the SVG icon
# engine, JPEG/GIF/ICO/SVG images, the compose/ibus input methods and CUPS printing.
QT_PLUGINS = "PySide6/Qt/plugins/"
NOT_SHIPPED_QT_PLUGINS = (
    "platforms/libqeglfs.so", "platforms/libqlinuxfb.so", "platforms/libqvnc.so", "platforms/libqvkkhrdisplay.so",
    "platforms/libqminimalegl.so", "egldeviceintegrations/", "generic/", "platformthemes/libqgtk3.so",
    "imageformats/libqicns.so", "imageformats/libqtga.so", "imageformats/libqwbmp.so",
    "imageformats/libqwebp.so", "imageformats/libqtiff.so",
)
# The plugins the app cannot do without, checked in the built folder by tests/packaging/test_build.py.
NEEDED_QT_PLUGINS = (
    "platforms/libqoffscreen.so", "platforms/libqxcb.so", "platforms/libqwayland.so",
    "imageformats/libqsvg.so", "imageformats/libqjpeg.so", "iconengines/libqsvgicon.so",
    "printsupport/libcupsprintersupport.so",
)
QT_TRANSLATIONS = "PySide6/Qt/translations/"  # the app installs no QTranslator: never loaded

FHIR_MODELS = "fhir.resources.R4B"


def shipped_plugin(dest: str) -> bool:
    """False for a Qt plugin listed in NOT_SHIPPED_QT_PLUGINS; True for anything else."""
    if not dest.startswith(QT_PLUGINS):
        return True
    return not dest[len(QT_PLUGINS):].startswith(NOT_SHIPPED_QT_PLUGINS)


def shipped_module(name: str) -> bool:
    """False for fhir.resources' own modules, which are its FHIR R5 models; the app reads R4B only.

    PyInstaller reaches the R5 models through the package's model look-up (``fhirtypes``), which
    the app never calls (fhir/validate.py asks ``fhir.resources.R4B``); the package itself stays,
    as the parent of ``fhir.resources.R4B``.
    """
    if not name.startswith("fhir.resources."):
        return True
    return name == FHIR_MODELS or name.startswith(FHIR_MODELS + ".")


def without_dangling_links(entries: list[tuple[str, str, str]], kept_files: set[str]) -> list[tuple[str, str, str]]:
    """The entries less the symlinks whose target is not among ``kept_files`` (dest names)."""

    def target(dest: str, src: str) -> str:
        return os.path.normpath(os.path.join(os.path.dirname(dest), src))

    return [e for e in entries if e[2] != "SYMLINK" or target(e[0], e[1]) in kept_files]


def is_shared_lib(dest: str) -> bool:
    """A shared library collected for its users (not a plugin, not a Python extension module)."""
    base = os.path.basename(dest)
    return base.startswith("lib") and ".so" in base and "/plugins/" not in dest and ".cpython-" not in base


def without_unused(binaries: list[tuple[str, str, str]],
                   linked: Callable[[Iterable[tuple[str, str, str]]], set[str]]) -> list[tuple[str, str, str]]:
    """The binaries less the dropped plugins and the shared libraries only those plugins needed.

    PyInstaller resolves the plugins' dependencies before the spec can drop a plugin, so a library
    is kept only if a kept extension module, plugin or the interpreter links it: ``linked(roots)``
    gives the base names of every library the roots load (``ldd`` lists the whole closure).
    """
    kept = [b for b in binaries if shipped_plugin(b[0])]
    roots = [b for b in kept if not is_shared_lib(b[0]) or os.path.basename(b[0]).startswith("libpython")]
    needed = linked(roots)
    return [b for b in kept if not is_shared_lib(b[0]) or b in roots or os.path.basename(b[0]) in needed]


def select(binaries: list[tuple[str, str, str]], datas: list[tuple[str, str, str]],
           pure: list[tuple[str, str, str]], linked: Callable[[Iterable[tuple[str, str, str]]], set[str]],
           ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Everything the spec drops after PyInstaller's analysis, in one place: (binaries, datas, pure)."""
    binaries = without_unused([b for b in binaries if b[2] != "SYMLINK"], linked) + [
        b for b in binaries if b[2] == "SYMLINK"]
    datas = [d for d in datas if not d[0].startswith(QT_TRANSLATIONS)]
    kept_files = {e[0] for e in binaries + datas if e[2] != "SYMLINK"}
    return (without_dangling_links(binaries, kept_files), without_dangling_links(datas, kept_files),
            [m for m in pure if shipped_module(m[0])])
