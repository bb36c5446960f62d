"""The user guide and its screenshots: every picture it shows exists, and the script that takes them
runs end to end against the real app and reference server, writing pictures of the expected size
that are not blank.

The script (docs/screenshots.py) is run as a separate process, exactly as a maintainer runs it,
with ``--out`` pointing into the test's tmp folder so the committed pictures are not touched.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PySide6.QtGui import QImage

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "user-guide.md"
IMAGE_REF = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
MAX_COMMITTED_BYTES = 300 * 1024
TERMINAL_SHOTS = {"sdk": 5, "certify": 13}  # the least lines each command prints, with its prompt


def load_script() -> ModuleType:
    """docs/screenshots.py as a module, for its list of shots and the sizes it promises."""
    spec = importlib.util.spec_from_file_location("docs_screenshots", DOCS / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the script's dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


def referenced_images() -> list[tuple[str, Path]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [(alt, (GUIDE.parent / target).resolve()) for alt, target in IMAGE_REF.findall(text)]


def expected_size(script: ModuleType, name: str) -> tuple[int, int] | None:
    """The exact size of a shot, or None for a terminal (its height follows the output's length)."""
    if name in TERMINAL_SHOTS:
        return None
    return script.SIGN_IN_SIZE if name == "first-start" else script.WINDOW_SIZE


def pixels(image: QImage) -> np.ndarray:
    rgb = image.convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(rgb.constBits(), dtype=np.uint32, count=rgb.width() * rgb.height()).copy()


def assert_not_blank(path: Path, *, least_other: float) -> None:
    """More than ``least_other`` of the pixels differ from the commonest colour, in many shades."""
    image = QImage(str(path))
    assert not image.isNull(), f"{path.name} is not a readable PNG"
    values, counts = np.unique(pixels(image), return_counts=True)
    other = 1 - counts.max() / counts.sum()
    assert other > least_other, f"{path.name}: only {other:.1%} of the pixels differ from the background"
    assert len(values) >= 50, f"{path.name}: only {len(values)} colours"


def assert_size(script: ModuleType, path: Path, name: str) -> None:
    image = QImage(str(path))
    wanted = expected_size(script, name)
    if wanted is None:
        assert image.width() == script.TERMINAL_WIDTH, f"{path.name} is {image.width()} px wide"
        assert image.height() > TERMINAL_SHOTS[name] * 18, f"{path.name} is too short for its output"
    else:
        assert (image.width(), image.height()) == wanted, f"{path.name} is {image.width()}×{image.height()}"


# --- the guide and the committed pictures -----------------------------------------------------------


def test_every_image_the_guide_shows_exists_and_is_a_committable_png(qapp):
    refs = referenced_images()
    assert refs, "the guide shows no picture"
    for alt, path in refs:
        assert alt.strip(), f"{path.name} has no alt text"
        assert path.is_file(), f"the guide shows {path}, which does not exist"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
        assert path.stat().st_size < MAX_COMMITTED_BYTES, f"{path.name} is {path.stat().st_size // 1024} kB"


def test_the_guide_shows_every_screenshot_the_script_takes_and_nothing_stale(qapp, script):
    shown = {path.name for _alt, path in referenced_images()}
    taken = {f"{name}.png" for name in script.SHOTS}
    assert taken - shown == set(), "screenshots the guide does not show"
    committed = {p.name for p in (DOCS / "images").glob("*.png")}
    assert committed - taken == set(), "pictures in docs/images that the script no longer makes"


def test_the_committed_screenshots_have_the_sizes_the_script_makes(qapp, script):
    for name in script.SHOTS:
        path = DOCS / "images" / f"{name}.png"
        assert_size(script, path, name)
        assert_not_blank(path, least_other=0.01)


def test_the_guide_links_only_to_files_that_exist():
    text = GUIDE.read_text(encoding="utf-8")
    for target in re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (GUIDE.parent / target).exists(), f"the guide links to {target}, which does not exist"


# --- the script, end to end ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_screenshot_script_runs_end_to_end_into_a_chosen_folder(qapp, script, tmp_path):
    out = tmp_path / "shots"
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(DOCS / "screenshots.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=150,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert seconds < 120, f"the script took {seconds:.0f} s"
    made = sorted(p.name for p in out.glob("*.png"))
    assert made == sorted(f"{name}.png" for name in script.SHOTS)
    for name in script.SHOTS:
        path = out / f"{name}.png"
        assert_size(script, path, name)
        # A window or dialog grab is mostly widgets, not one flat colour; a terminal has its text.
        assert_not_blank(path, least_other=0.01 if name in TERMINAL_SHOTS else 0.10)
    assert f"{len(script.SHOTS)} screenshots in" in done.stdout
