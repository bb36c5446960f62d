"""The perio graph: per arch and aspect, the gingival margin and the attachment level over the CEJ.

Four plots, two a row (maxillary facial and palatal, mandibular lingual and facial), each with the teeth left to right as on the chart. The y axis is mm from the
CEJ (the dashed line at 0), apical away from the crowns: up for the upper teeth, down for the
lower, so the picture looks like the mouth. The blue line is the gingival margin (GM, + is
recession), the red line the bottom of the pocket, which is the clinical attachment level
(CAL = PD + GM), and the pale red bars between them are the probing depths. Missing teeth leave
gaps. Built with pyqtgraph; imported only when the perio tab first shows a graph.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from odonto_desk.domain.perio import PerioExam
from odonto_desk.domain.perio_paths import chart_sites
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.ui.perio.grid import LOWER, UPPER

PANELS = (("Maxillary facial", UPPER, "F"), ("Maxillary palatal", UPPER, "L"),
          ("Mandibular lingual", LOWER, "L"), ("Mandibular facial", LOWER, "F"))
GM_PEN = pg.mkPen("#1565C0", width=2)
CAL_PEN = pg.mkPen("#C62828", width=2)
CEJ_PEN = pg.mkPen("#6E6E6E", width=1, style=Qt.PenStyle.DashLine)
PD_BRUSH = pg.mkBrush(229, 115, 115, 90)


def site_x(index: int, col: int) -> float:
    """x of a site: the tooth's slot (3 sites and a gap) plus the site's column."""
    return index * 3.5 + col + 0.5


def series(exam: PerioExam, teeth: tuple[Tooth, ...], aspect: str) -> tuple[list[float], list[float], list[float],
                                                                           list[float]]:
    """(x, GM, CAL, PD) per site; NaN where nothing is recorded (a gap in the line)."""
    xs, gms, cals, pds = [], [], [], []
    for i, tooth in enumerate(teeth):
        for col, site in enumerate(chart_sites(tooth, aspect)):
            pd, gm, cal = exam.pd(tooth, site), exam.gm(tooth, site), exam.cal(tooth, site)  # CAL: the domain's
            xs.append(site_x(i, col))
            gms.append(float(gm) if gm is not None else math.nan)
            cals.append(float(cal) if cal is not None else math.nan)
            pds.append(float(pd) if pd is not None else math.nan)
    return xs, gms, cals, pds


class PerioGraph(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True, background="w", foreground="#333333")
        self.view = pg.GraphicsLayoutWidget()
        self.view.setAccessibleName("Perio graph")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        key = QLabel("<span style='color:#1565C0'>━ gingival margin</span> &nbsp; "
                     "<span style='color:#C62828'>━ attachment level (pocket base, CAL)</span> &nbsp; "
                     "<span style='color:#E57373'>▮ probing depth</span> &nbsp; "
                     "<span style='color:#6E6E6E'>┅ CEJ</span>")
        key.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(key)
        self.numbering = NumberingSystem.UNIVERSAL
        self.plots: list[pg.PlotItem] = []
        self._items: list[tuple[pg.PlotDataItem, pg.PlotDataItem, pg.BarGraphItem]] = []
        for n, (title, teeth, _aspect) in enumerate(PANELS):
            plot = self.view.addPlot(row=n // 2, col=n % 2, title=title)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(x=False, y=True, alpha=0.15)
            plot.getViewBox().invertY(teeth is LOWER)  # apical up for the upper teeth, down for the lower
            plot.setXRange(-0.5, 16 * 3.5, padding=0)
            plot.setYRange(-3, 11, padding=0)
            if n % 2 == 0:
                plot.setLabel("left", "mm from CEJ")
            plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=CEJ_PEN))
            bars = pg.BarGraphItem(x=[], y0=[], height=[], width=0.55, brush=PD_BRUSH, pen=None)
            gm = plot.plot([], [], pen=GM_PEN, connect="finite", name="GM")
            cal = plot.plot([], [], pen=CAL_PEN, connect="finite", name="CAL")
            plot.addItem(bars)
            self.plots.append(plot)
            self._items.append((gm, cal, bars))
        self._ticks()

    def _ticks(self) -> None:
        for plot, (_title, teeth, _aspect) in zip(self.plots, PANELS, strict=True):
            plot.getAxis("bottom").setTicks([[(site_x(i, 1), t.format(self.numbering)) for i, t in enumerate(teeth)]])

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self._ticks()

    def set_exam(self, exam: PerioExam | None) -> None:
        for (gm_item, cal_item, bars), (_title, teeth, aspect) in zip(self._items, PANELS, strict=True):
            if exam is None:
                gm_item.setData([], [])
                cal_item.setData([], [])
                bars.setOpts(x=[], y0=[], height=[])
                continue
            xs, gms, cals, pds = series(exam, teeth, aspect)
            gm_item.setData(xs, gms, connect="finite")
            cal_item.setData(xs, cals, connect="finite")
            keep = [i for i, pd in enumerate(pds) if not math.isnan(pd)]
            bars.setOpts(x=[xs[i] for i in keep], y0=[0.0 if math.isnan(gms[i]) else gms[i] for i in keep],
                         height=[pds[i] for i in keep])
