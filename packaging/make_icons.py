"""Render ``packaging/icons/odonto-desk.svg`` to the PNG sizes a desktop asks for (16 to 256 px).

Run it after changing the SVG: ``QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py``.
The PNGs are committed so a build needs no rendering step; ``--check`` only says whether they are
missing or older than the SVG (tests/packaging/test_icons.py uses it).
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


def stale(root: Path = HERE / "icons") -> list[Path]:
    """The PNGs that are missing or older than the SVG."""
    return [p for p in map(lambda s: png_path(s, root), SIZES)
            if not p.exists() or p.stat().st_mtime < SVG.stat().st_mtime]


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
