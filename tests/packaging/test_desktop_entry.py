"""The desktop entry and the icons that packaging/build.py puts beside the binary (``share/``).

The entry must start the binary the build makes and name an icon the icon tree has;
``desktop-file-validate`` (desktop-file-utils, which ./dev installs) checks it against the
freedesktop specification when it is installed. The committed PNGs must be what the SVG renders to.
"""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtGui import QImage

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
ENTRY = PACKAGING / "odonto-desk.desktop"
# Main categories of the freedesktop menu specification: an entry in two shows up twice.
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
                   "Office", "Science", "Settings", "System", "Utility"}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(ENTRY, encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_entry_starts_the_built_binary_with_the_shipped_icon():
    e = entry()
    build = load("build")
    make_icons = load("make_icons")
    assert e["Type"] == "Application"
    assert e["Name"] == "Odonto Desk"
    assert e["Exec"].split()[0] == build.NAME
    assert e["TryExec"] == build.NAME
    assert e["Terminal"] == "false"
    assert e["Icon"] == make_icons.SVG.stem == build.NAME
    for size in make_icons.SIZES:
        assert make_icons.png_path(size).name == f"{e['Icon']}.png"
    categories = [c for c in e["Categories"].split(";") if c]
    assert len(set(categories) & MAIN_CATEGORIES) == 1, categories
    assert e["Categories"].endswith(";") and e["Keywords"].endswith(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate is not installed (Debian: desktop-file-utils; ./dev installs it)")
def test_the_entry_passes_desktop_file_validate():
    proc = subprocess.run(["desktop-file-validate", str(ENTRY)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_the_committed_icons_are_what_the_svg_renders_to(qapp):
    make_icons = load("make_icons")
    assert make_icons.stale() == []
    for size in make_icons.SIZES:
        image = QImage(str(make_icons.png_path(size)))
        assert (image.width(), image.height()) == (size, size)
        assert image.hasAlphaChannel()


def test_a_changed_svg_makes_the_icons_stale(qapp, tmp_path):
    make_icons = load("make_icons")
    changed = tmp_path / "changed.svg"
    svg = make_icons.SVG.read_text(encoding="utf-8")
    assert 'fill="#0F766E"' in svg  # the tile's colour
    changed.write_text(svg.replace('fill="#0F766E"', 'fill="#B91C1C"'), encoding="utf-8")
    assert len(make_icons.stale(svg=changed)) == len(make_icons.SIZES)
