"""Render ``packaging/icons/odonto-desk.svg`` to the PNG sizes a desktop asks for (16 to 256 px).

Run it after changing the SVG: ``QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py``.
The PNGs are committed so a build needs no rendering step; ``--check`` only says whether any is
missing or differs from what the SVG renders to now (tests/packaging/test_desktop_entry.py uses it;
file times say nothing in a fresh clone, so the pictures themselves are compared).
Files go to ``icons/hicolor/<N>x<N>/apps/odonto-desk.png``, the freedesktop icon theme layout, so an
installer can copy the ``hicolor`` folder as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / "odonto-desk.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def png_path(size: int, root: Path = HERE / "icons") -> Path:
    return root / "hicolor" / f"{size}x{size}" / "apps" / "odonto-desk.png"


def render(svg: Path = SVG, root: Path = HERE / "icons", sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Write one PNG per size; raise ValueError if the SVG does not parse (nothing is written then)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = png_path(size, root)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(out), "PNG"):
            raise OSError(f"could not write {out}")
        written.append(out)
    return written


# Rendering the same SVG with another Qt release may move an anti-aliased edge pixel by a level or two.
MAX_CHANNEL_DIFFERENCE = 24
MAX_MEAN_DIFFERENCE = 0.5


def _pixels(path: Path):  # -> numpy array (height, width, 4), or None when unreadable
    import numpy as np
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    if image.isNull():
        return None
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4).astype(np.int16)


def stale(root: Path = HERE / "icons", svg: Path = SVG) -> list[Path]:
    """The PNGs under ``root`` that are missing, of the wrong size, or not what ``svg`` renders to."""
    import tempfile

    with tempfile.TemporaryDirectory() as fresh_root:
        fresh = dict(zip(SIZES, render(svg, Path(fresh_root)), strict=True))
        out = []
        for size in SIZES:
            committed, wanted = _pixels(png_path(size, root)), _pixels(fresh[size])
            if committed is None or committed.shape != wanted.shape:
                out.append(png_path(size, root))
                continue
            diff = abs(committed - wanted)
            if diff.max() > MAX_CHANNEL_DIFFERENCE or diff.mean() > MAX_MEAN_DIFFERENCE:
                out.append(png_path(size, root))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing or stale PNGs")
    args = parser.parse_args(argv)
    if args.check:
        missing = stale()
        for p in missing:
            print(f"stale or missing: {p.relative_to(HERE)}", file=sys.stderr)
        return 1 if missing else 0
    for p in render():
        print(p.relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
