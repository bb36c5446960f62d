"""How each chart mark is drawn on a tooth: the one place that turns marks into pixels.

A tooth's picture in one view is composed from its drawing (:mod:`art`) and its marks, and kept
until the marks, the size or the selection change (:class:`ToothPictures`). Status shows as a
colour *and* a pattern and outline (:mod:`odonto_desk.ui.palette`); metal restorations use the
dark shade of the colour, as chairside charts always have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap

from odonto_desk.domain.mark_kinds import MarkKind, MarkStatus, Material
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import Arch, Tooth
from odonto_desk.ui.odontogram.art import Rendered, ToothArt
from odonto_desk.ui.palette import SELECTION, STATUS_STYLES, StatusStyle


class DrawnMark(Protocol):
    """What the odontogram reads of a mark.

    A :class:`~odonto_desk.domain.chart.DrawnMark` is one; so is the first frame's
    :class:`~odonto_desk.services.first_frame.MarkSketch`, drawn at start before the models load.
    """

    @property
    def tooth(self) -> Tooth: ...
    @property
    def kind(self) -> MarkKind: ...
    @property
    def status(self) -> MarkStatus: ...
    @property
    def surfaces(self) -> frozenset[Surface]: ...
    @property
    def material(self) -> Material | None: ...
    @property
    def date(self) -> dt.date | None: ...
    @property
    def removes_tooth(self) -> bool: ...
    def describe(self) -> str: ...


_SURFACE_KINDS = {MarkKind.CARIES, MarkKind.FILLING, MarkKind.INLAY, MarkKind.ONLAY, MarkKind.SEALANT,
                  MarkKind.FRACTURE, MarkKind.WATCH}
_CROWN_KINDS = {MarkKind.CROWN, MarkKind.PONTIC, MarkKind.ABUTMENT, MarkKind.DENTURE}


def _style(mark: DrawnMark) -> StatusStyle:
    return STATUS_STYLES[mark.status.value]


def _colour(mark: DrawnMark) -> QColor:
    return _style(mark).qcolour(metal=bool(mark.material and mark.material.is_metal))


def _brush_image(mask: QImage, mark: DrawnMark, *, scale: float) -> QImage:
    """The mark's colour and pattern, cut to ``mask``'s shape."""
    style = _style(mark)
    colour = _colour(mark)
    out = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    p = QPainter(out)
    if style.pattern is Qt.BrushStyle.SolidPattern:
        p.fillRect(out.rect(), colour)
    else:
        tint = QColor(colour)
        tint.setAlpha(80)
        p.fillRect(out.rect(), tint)
        brush = QBrush(colour, style.pattern)
        brush.setTransform(brush.transform().scale(scale, scale))
        p.fillRect(out.rect(), brush)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    p.drawImage(0, 0, mask)
    p.end()
    return out


def _union(masks: Iterable[QImage], size: QSize) -> QImage:
    out = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    p = QPainter(out)
    for m in masks:
        p.drawImage(0, 0, m)
    p.end()
    return out


class ToothPainter:
    """Composes one tooth's picture in one view (UI thread)."""

    def __init__(self, art: ToothArt) -> None:
        self.art = art

    def compose(self, tooth: Tooth, view: str, size: QSize, marks: Sequence[DrawnMark],
                selected: frozenset[Surface], tooth_selected: bool, dpr: float = 1.0) -> QPixmap:
        px = QSize(max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr)))
        rendered = self.art.get(tooth, view, px)
        image = QImage(px, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        scale = max(1.0, px.width() / 40)
        gone = [m for m in marks if m.removes_tooth and m.kind is not MarkKind.PONTIC]
        p.setOpacity(0.18 if gone else 1.0)
        p.drawImage(0, 0, rendered.image)
        p.setOpacity(1.0)
        if not gone:
            for mark in sorted(marks, key=_draw_order):
                self._mark(p, mark, rendered, view, px, tooth, scale)
        else:
            self._gone(p, gone[0], px, scale)
        if selected:
            sel = QColor(SELECTION)
            sel.setAlpha(110)
            masks = [rendered.surfaces[s] for s in selected if s in rendered.surfaces]
            if masks:
                p.drawImage(0, 0, _tinted(_union(masks, px), sel))
        p.end()
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(dpr)
        return pixmap

    # --- one mark ----------------------------------------------------------------------------

    def _mark(self, p: QPainter, mark: DrawnMark, r: Rendered, view: str, px: QSize, tooth: Tooth,
              scale: float) -> None:
        kind = mark.kind
        if kind in _SURFACE_KINDS and mark.surfaces:
            masks = [r.surfaces[s] for s in mark.surfaces if s in r.surfaces]
            if masks:
                p.drawImage(0, 0, _brush_image(_union(masks, px), mark, scale=scale))
            if kind is MarkKind.FRACTURE:
                self._zigzag(p, mark, px, view)
            return
        if kind is MarkKind.SEALANT or kind is MarkKind.FRACTURE or kind is MarkKind.WATCH:
            if kind is MarkKind.FRACTURE:
                self._zigzag(p, mark, px, view)
            elif kind is MarkKind.WATCH:
                self._badge(p, mark, "W", px)
            else:
                o = r.surfaces.get(Surface.O)
                if o is not None:
                    p.drawImage(0, 0, _brush_image(o, mark, scale=scale))
            return
        if kind in _CROWN_KINDS:
            crown = r.parts.get("crown") or r.parts.get("outline")
            if crown is not None:
                p.drawImage(0, 0, _brush_image(crown, mark, scale=scale))
            if kind is MarkKind.PONTIC and view == "facial":
                self._erase_roots(p, r, px)
            if kind is MarkKind.ABUTMENT:
                self._badge(p, mark, "A", px)
            return
        if kind is MarkKind.VENEER:
            facial = r.surfaces.get(Surface.F) or r.surfaces.get(Surface.B)
            if facial is not None:
                p.drawImage(0, 0, _brush_image(facial, mark, scale=scale))
            return
        if view != "facial":
            if kind is MarkKind.IMPLANT:
                self._ring(p, mark, px)
            elif kind is MarkKind.IMPACTED:
                self._badge(p, mark, "I", px)
            elif kind is MarkKind.EXTRACTION:
                self._cross(p, mark, px)
            return
        if kind is MarkKind.RCT or kind is MarkKind.POST_CORE:
            canals = [m for k, m in r.parts.items() if k.startswith("canal-")]
            if canals:
                p.drawImage(0, 0, _tinted(_union(canals, px), _colour(mark)))
            if kind is MarkKind.POST_CORE:
                self._post(p, mark, tooth, px)
        elif kind is MarkKind.IMPLANT:
            self._erase_roots(p, r, px)
            self._screw(p, mark, tooth, px)
        elif kind is MarkKind.EXTRACTION:
            self._cross(p, mark, px)
        elif kind is MarkKind.IMPACTED:
            self._dashed_outline(p, mark, px)
        elif kind is MarkKind.RETAINED_ROOT:
            crown = r.parts.get("crown")
            if crown is not None:
                p.save()
                p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
                p.drawImage(0, 0, crown)
                p.restore()
            roots = [m for k, m in r.parts.items() if k.startswith("root-")]
            p.drawImage(0, 0, _brush_image(_union(roots, px), mark, scale=scale))

    def _gone(self, p: QPainter, mark: DrawnMark, px: QSize, scale: float) -> None:
        """Missing or extracted: the faint drawing, and for an extraction a cross in its status."""
        if mark.kind is not MarkKind.MISSING:
            self._cross(p, mark, px)

    # --- symbols -------------------------------------------------------------------------------

    def _pen(self, mark: DrawnMark, px: QSize, width: float = 0.05) -> QPen:
        pen = QPen(_colour(mark), max(1.5, px.width() * width))
        pen.setStyle(_style(mark).outline if mark.status is MarkStatus.TREATMENT_PLANNED else Qt.PenStyle.SolidLine)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        return pen

    def _cross(self, p: QPainter, mark: DrawnMark, px: QSize) -> None:
        p.setPen(self._pen(mark, px, 0.07))
        w, h = px.width(), px.height()
        m = w * 0.12
        p.drawLine(QPointF(m, m), QPointF(w - m, h - m))
        p.drawLine(QPointF(w - m, m), QPointF(m, h - m))

    def _zigzag(self, p: QPainter, mark: DrawnMark, px: QSize, view: str) -> None:
        """A crack line across the crown (the crown is the lower part of an upper tooth's facial view)."""
        p.setPen(self._pen(mark, px, 0.04))
        w, h = px.width(), px.height()
        if view == "occlusal":
            top, bottom = 0.38, 0.62
        elif mark.tooth.base.arch is Arch.MAXILLARY:
            top, bottom = 0.66, 0.78
        else:
            top, bottom = 0.22, 0.34
        path = QPainterPath(QPointF(w * 0.2, h * top))
        for i, x in enumerate((0.35, 0.5, 0.65, 0.8)):
            path.lineTo(QPointF(w * x, h * (bottom if i % 2 == 0 else top)))
        p.drawPath(path)

    def _badge(self, p: QPainter, mark: DrawnMark, letter: str, px: QSize) -> None:
        d = px.width() * 0.34
        rect = QRectF(px.width() - d - 1, 1, d, d)
        p.setPen(QPen(_colour(mark), max(1.0, d * 0.08)))
        p.setBrush(QColor("white"))
        p.drawEllipse(rect)
        font = p.font()
        font.setPixelSize(max(6, int(d * 0.62)))
        font.setBold(True)
        p.setFont(font)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, letter)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _ring(self, p: QPainter, mark: DrawnMark, px: QSize) -> None:
        p.setPen(self._pen(mark, px, 0.06))
        p.setBrush(Qt.BrushStyle.NoBrush)
        c = QPointF(px.width() / 2, px.height() / 2)
        p.drawEllipse(c, px.width() * 0.18, px.width() * 0.18)

    def _dashed_outline(self, p: QPainter, mark: DrawnMark, px: QSize) -> None:
        pen = self._pen(mark, px, 0.03)
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(QRectF(2, 2, px.width() - 4, px.height() - 4), px.width() * 0.2, px.width() * 0.2)

    def _erase_roots(self, p: QPainter, r: Rendered, px: QSize) -> None:
        roots = [m for k, m in r.parts.items() if k.startswith("root-") or k.startswith("canal-")]
        if roots:
            p.save()
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
            p.drawImage(0, 0, _union(roots, px))
            p.restore()

    def _root_zone(self, tooth: Tooth, px: QSize) -> QRectF:
        w, h = px.width(), px.height()
        if tooth.base.arch is Arch.MAXILLARY:
            return QRectF(w * 0.32, h * 0.08, w * 0.36, h * 0.5)
        return QRectF(w * 0.32, h * 0.42, w * 0.36, h * 0.5)

    def _screw(self, p: QPainter, mark: DrawnMark, tooth: Tooth, px: QSize) -> None:
        zone = self._root_zone(tooth, px)
        colour = _colour(mark)
        p.setPen(QPen(colour.darker(130), max(1.0, px.width() * 0.025)))
        fill = QColor(colour)
        fill.setAlpha(170 if mark.status is not MarkStatus.TREATMENT_PLANNED else 70)
        p.setBrush(fill)
        p.drawRoundedRect(zone, zone.width() * 0.3, zone.width() * 0.3)
        n = 6
        for i in range(1, n):
            y = zone.top() + zone.height() * i / n
            p.drawLine(QPointF(zone.left(), y), QPointF(zone.right(), y - zone.height() / n / 2))
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _post(self, p: QPainter, mark: DrawnMark, tooth: Tooth, px: QSize) -> None:
        w, h = px.width(), px.height()
        upper = tooth.base.arch is Arch.MAXILLARY
        rect = QRectF(w * 0.44, h * (0.38 if upper else 0.4), w * 0.12, h * 0.22)
        p.fillRect(rect, _colour(mark).darker(150))


def _tinted(mask: QImage, colour: QColor) -> QImage:
    out = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(colour)
    p = QPainter(out)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    p.drawImage(0, 0, mask)
    p.end()
    return out


def _draw_order(mark: DrawnMark) -> int:
    """Whole-tooth work under surface work; within each, findings under existing work and plans on top,
    so planned treatment is never hidden by the caries it treats."""
    base = {MarkKind.CROWN: 0, MarkKind.PONTIC: 0, MarkKind.ABUTMENT: 0, MarkKind.DENTURE: 0, MarkKind.VENEER: 1,
            MarkKind.IMPLANT: 1, MarkKind.RCT: 2, MarkKind.POST_CORE: 3}.get(mark.kind, 4)
    layer = {MarkStatus.CONDITION: 0, MarkStatus.TREATMENT_PLANNED: 6, MarkStatus.REFERRED: 5}.get(mark.status, 3)
    return base * 10 + layer
