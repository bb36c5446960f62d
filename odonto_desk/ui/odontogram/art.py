"""Tooth drawings: the SVGs of ``assets/teeth_svg`` rendered once per size, and their surface masks.

Painting never renders SVG: :class:`ToothArt` renders each drawing once per (size, mirroring) into
an image and keeps it, together with one alpha mask per named surface region (each rendered the
first time it is used, see :class:`Masks`). The masks serve two purposes: hit-testing a click
(which surface is under the pointer) and tinting a surface (the mark's brush is drawn through the
mask). Drawings are for the patient's right side; left-side
teeth use the horizontally mirrored images.

Thread rule: UI thread only (QPixmap).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QTransform
from PySide6.QtSvg import QSvgRenderer

from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import Arch, Side, Tooth, ToothType

K = TypeVar("K")


def _assets_dir() -> Path:
    """The tooth drawings' folder: ``assets/`` at the checkout's root, or in a frozen build's bundle.

    ``assets/`` sits outside the package, so a PyInstaller build copies it into its data folder
    (``sys._MEIPASS``) rather than beside the modules; looking there first keeps both layouts working.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[3]
    return root / "assets" / "teeth_svg"


ASSETS = _assets_dir()

_TYPE_NAMES = {
    ToothType.CENTRAL_INCISOR: "central",
    ToothType.LATERAL_INCISOR: "lateral",
    ToothType.CANINE: "canine",
    ToothType.FIRST_PREMOLAR: "premolar1",
    ToothType.SECOND_PREMOLAR: "premolar2",
    ToothType.FIRST_MOLAR: "molar1",
    ToothType.SECOND_MOLAR: "molar2",
    ToothType.THIRD_MOLAR: "molar3",
}
VIEWS = ("facial", "occlusal")
VIEW_BOX = {"facial": QSize(100, 200), "occlusal": QSize(100, 100)}
# Letters a region id may carry; B and F are the same region (the tooth's facial side), as are O and I.
_REGION_LETTERS = ("M", "D", "V", "O", "I", "B", "F", "L")


def drawing_name(tooth: Tooth, view: str) -> str:
    base = tooth.base
    dentition = "prim" if base.is_primary else "perm"
    arch = "upper" if base.arch is Arch.MAXILLARY else "lower"
    return f"{dentition}-{arch}-{_TYPE_NAMES[base.tooth_type]}-{view}"


class Masks(Mapping[K, QImage]):
    """The masks of one drawing at one size, each rendered the first time it is asked for.

    A chart's first paint needs the masks of the marked teeth only (a filling tints its surfaces,
    a root canal its canals); the rest wait for a click or a hover. Rendering them all up front was
    four fifths of the first paint's SVG work.
    """

    def __init__(self, ids: dict[K, str], render: Callable[[str], QImage]) -> None:
        self._ids = ids
        self._render = render
        self._done: dict[K, QImage] = {}

    def __getitem__(self, key: K) -> QImage:
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = self._render(self._ids[key])  # KeyError for a region it lacks
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._ids  # without rendering it

    def get(self, key: K, default: QImage | None = None) -> QImage | None:  # type: ignore[override]
        found = self._done.get(key)
        if found is not None:
            return found
        return self[key] if key in self._ids else default

    def __iter__(self) -> Iterator[K]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def rendered(self) -> int:
        """How many of the masks have been rendered so far."""
        return len(self._done)


@dataclass(frozen=True)
class Rendered:
    """One drawing at one size: the image, each surface's mask, and the structural parts' masks."""

    image: QImage
    surfaces: Mapping[Surface, QImage]
    parts: Mapping[str, QImage]  # crown, roots, canals, outline

    def surface_at(self, point: QPoint) -> Surface | None:
        """The surface whose region is under ``point`` (image pixels), if any."""
        best: tuple[int, Surface] | None = None
        for surface, mask in self.surfaces.items():
            if mask.valid(point):
                alpha = mask.pixelColor(point).alpha()
                if alpha > 96 and (best is None or alpha > best[0]):
                    best = (alpha, surface)
        return best[1] if best else None

    def centre_of(self, surface: Surface) -> QPoint | None:
        """A point well inside the surface's region (for tests and keyboard focus)."""
        mask = self.surfaces.get(surface)
        if mask is None:
            return None
        xs = ys = n = 0
        for y in range(0, mask.height(), 2):
            for x in range(0, mask.width(), 2):
                if mask.pixelColor(x, y).alpha() > 200:
                    xs, ys, n = xs + x, ys + y, n + 1
        if not n:
            return None
        c = QPoint(xs // n, ys // n)
        if mask.pixelColor(c).alpha() > 200:
            return c
        # a concave region: the opaque pixel nearest the centroid
        pts = ((x, y) for y in range(mask.height()) for x in range(mask.width()) if mask.pixelColor(x, y).alpha() > 200)
        x, y = min(pts, key=lambda p: (p[0] - c.x()) ** 2 + (p[1] - c.y()) ** 2)
        return QPoint(x, y)


class ToothArt:
    """Renders and keeps the drawings. One instance per window."""

    def __init__(self, folder: Path = ASSETS) -> None:
        self.folder = folder
        self._renderers: dict[str, QSvgRenderer] = {}
        self._rendered: dict[tuple[str, int, int, bool], Rendered] = {}
        self.renders = 0  # how many SVG renders were made (the cache's hit rate, for the benchmark)

    def renderer(self, name: str) -> QSvgRenderer:
        r = self._renderers.get(name)
        if r is None:
            path = self.folder / f"{name}.svg"
            r = QSvgRenderer(str(path))
            if not r.isValid():
                raise FileNotFoundError(f"tooth drawing {path} is missing or not valid SVG")
            self._renderers[name] = r
        return r

    def get(self, tooth: Tooth, view: str, size: QSize) -> Rendered:
        mirrored = tooth.base.side is Side.LEFT
        key = (drawing_name(tooth, view), size.width(), size.height(), mirrored)
        found = self._rendered.get(key)
        if found is None:
            found = self._render(key[0], view, size, mirrored)
            self._rendered[key] = found
        return found

    def clear(self) -> None:
        self._rendered.clear()

    def _render(self, name: str, view: str, size: QSize, mirrored: bool) -> Rendered:
        renderer = self.renderer(name)
        self.renders += 1
        image = _blank(size)
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p, QRectF(0, 0, size.width(), size.height()))
        p.end()

        def element(eid: str) -> QImage:
            mask = _element(renderer, eid, view, size)
            return _mirror(mask) if mirrored else mask

        surface_ids = {Surface(letter): f"surface-{letter}" for letter in _REGION_LETTERS
                       if renderer.elementExists(f"surface-{letter}")}
        part_ids = {eid: eid for eid in ("crown", "outline", *(f"root-{i}" for i in range(1, 4)),
                                         *(f"canal-{i}" for i in range(1, 4))) if renderer.elementExists(eid)}
        return Rendered(_mirror(image) if mirrored else image, Masks(surface_ids, element), Masks(part_ids, element))


def _blank(size: QSize) -> QImage:
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    return image


def _element(renderer: QSvgRenderer, eid: str, view: str, size: QSize) -> QImage:
    """The element alone, where it sits in the drawing, scaled like the whole drawing."""
    box = VIEW_BOX[view]
    sx, sy = size.width() / box.width(), size.height() / box.height()
    bounds = renderer.transformForElement(eid).mapRect(renderer.boundsOnElement(eid))
    target = QRectF(bounds.x() * sx, bounds.y() * sy, bounds.width() * sx, bounds.height() * sy)
    image = _blank(size)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(p, eid, target)
    p.end()
    return image


def _mirror(image: QImage) -> QImage:
    return image.transformed(QTransform().scale(-1, 1))


@functools.cache
def shared_art() -> ToothArt:
    """The process's drawings (one set is enough: the cache is keyed by size)."""
    return ToothArt()


def mapped(point: QPointF, cell: QRectF, size: QSize) -> QPoint:
    """A widget point inside ``cell`` in the cell image's pixels."""
    return QPoint(int((point.x() - cell.x()) * size.width() / cell.width()),
                  int((point.y() - cell.y()) * size.height() / cell.height()))
