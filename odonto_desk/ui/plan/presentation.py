"""The case presentation: one PDF a patient takes home (chart, phases, fees, estimate, signature).

Drawn with QPainter on a QPdfWriter so it needs nothing beyond Qt. Code labels come from the
practice's catalog (the demo labels are our own words, never ADA descriptors).
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QMarginsF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter

from odonto_desk.domain.cdt import Catalog, ServiceCategory
from odonto_desk.domain.plan import LineStatus, TreatmentPlan
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.plans import PlanView
from odonto_desk.ui.odontogram.widget import Odontogram

DPI = 150
MUTED = QColor("#5B6575")


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


class _Page:
    """A cursor down the page that starts a new page when the next block does not fit."""

    def __init__(self, writer: QPdfWriter, painter: QPainter) -> None:
        self.writer = writer
        self.p = painter
        self.width = writer.width()
        self.height = writer.height()
        self.y = 0.0

    def room(self, needed: float) -> None:
        if self.y + needed > self.height:
            self.writer.newPage()
            self.y = 0.0

    def text(self, text: str, *, size: float = 10, bold: bool = False, colour: QColor | None = None,
             x: float = 0, width: float | None = None, align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
             advance: bool = True) -> None:
        font = QFont("Helvetica", 1)
        font.setPointSizeF(size)
        font.setBold(bold)
        self.p.setFont(font)
        self.p.setPen(colour or QColor("black"))
        line = size * DPI / 72 * 1.45
        self.room(line)
        self.p.drawText(QRectF(x, self.y, width or self.width - x, line), int(align | Qt.AlignmentFlag.AlignVCenter),
                        text)
        if advance:
            self.y += line

    def rule(self) -> None:
        self.p.setPen(QColor("#C9CFD8"))
        self.p.drawLine(0, int(self.y + 4), int(self.width), int(self.y + 4))
        self.y += 12


def chart_image(view: PlanView, numbering: NumberingSystem, size: QSize) -> QImage:
    chart = Odontogram()
    chart.set_numbering(numbering)
    chart.set_chart(view.chart.teeth, view.chart.marks)
    image = chart.grab_chart(size).toImage()
    chart.deleteLater()
    return image


def write_presentation(path: str, plan: TreatmentPlan, view: PlanView, catalog: Catalog, *,
                       numbering: NumberingSystem = NumberingSystem.UNIVERSAL, practice: str = "Odonto Desk") -> None:
    writer = QPdfWriter(path)
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.Letter), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(f"Treatment plan — {view.chart.patient.name}")
    writer.setCreator(practice)
    p = QPainter(writer)
    try:
        page = _Page(writer, p)
        _header(page, plan, view)
        image = chart_image(view, numbering, QSize(1100, 520))
        target = QRectF(0, page.y, page.width, page.width * image.height() / image.width())
        p.drawImage(target, image)
        page.y += target.height() + 10
        _lines(page, plan, view, catalog, numbering)
        _totals(page, plan, view, catalog)
        _signature(page, plan)
    finally:
        p.end()


def _header(page: _Page, plan: TreatmentPlan, view: PlanView) -> None:
    patient = view.chart.patient
    page.text("Treatment plan", size=18, bold=True)
    number = f" · {plan.care_plan_id}" if plan.care_plan_id else ""
    page.text(f"{plan.title}{number} · {plan.status.value}", size=12)
    page.text(f"{patient.name} · born {patient.birth_date} · {patient.gpid}", size=10, colour=MUTED)
    page.rule()


_COLS = (("Tooth", 0.00, 0.07), ("Surf.", 0.07, 0.07), ("Procedure", 0.14, 0.40), ("Status", 0.54, 0.14),
         ("Fee", 0.68, 0.10), ("Insurance", 0.78, 0.11), ("You pay", 0.89, 0.11))


def _row(page: _Page, cells: list[str], *, bold: bool = False, colour: QColor | None = None) -> None:
    page.room(30)
    for (_, start, share), text in zip(_COLS, cells, strict=True):
        right = start >= 0.68
        page.text(text, size=9, bold=bold, colour=colour, x=page.width * start, width=page.width * share - 6,
                  align=Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft, advance=False)
    page.y += 9 * DPI / 72 * 1.45


def _lines(page: _Page, plan: TreatmentPlan, view: PlanView, catalog: Catalog, numbering: NumberingSystem) -> None:
    _row(page, [c[0] for c in _COLS], bold=True, colour=MUTED)
    for phase in plan.phases:
        est = plan.estimate(catalog.category, view.coverage, phase=phase.number)
        title = f"Phase {phase.number}" + (f": {phase.title}" if phase.title else "")
        _row(page, ["", "", title, "", money(est.fee), money(est.insurance), money(est.patient)], bold=True)
        for item in phase.items:
            counted = plan.counts(item)
            label = catalog.label(item.code) if item.code in catalog else ""
            what = f"{item.code} {label}".strip() + ("  (option)" if item.alternate_group else "")
            fee = money(item.fee) if item.fee is not None else "—"
            status = item.line_status.label
            colour = MUTED if not counted else None
            if item.line_status is LineStatus.REJECTED:
                fee = f"({fee})"
            tooth = item.tooth.format(numbering) if item.tooth else ""
            _row(page, [tooth, item.surface_string, what, status, fee, "", ""], colour=colour)
    page.rule()


def _totals(page: _Page, plan: TreatmentPlan, view: PlanView, catalog: Catalog) -> None:
    by_category = plan.category_totals(catalog.category)
    page.text("By service category", size=11, bold=True)
    for category in ServiceCategory:
        if by_category[category]:
            page.text(category.label, size=9, x=page.width * 0.14, width=page.width * 0.4, advance=False)
            page.text(money(by_category[category]), size=9, x=page.width * 0.54, width=page.width * 0.24,
                      align=Qt.AlignmentFlag.AlignRight)
    est = plan.estimate(catalog.category, view.coverage)
    insured = "estimated from the usual coverage of your insurance" if view.coverage else "no insurance on file"
    page.y += 6
    page.text(f"Total {money(est.fee)} · insurance {money(est.insurance)} · your estimate {money(est.patient)}",
              size=12, bold=True)
    page.text(f"Estimate only ({insured}); options not chosen and declined items are not added.", size=8,
              colour=MUTED)
    page.rule()


def _signature(page: _Page, plan: TreatmentPlan) -> None:
    page.room(260)
    sig = plan.signature
    if sig is None:
        page.text("Signature: ______________________________    Date: ____________", size=10)
        return
    image = QImage.fromData(sig.png, "PNG")
    box = QRectF(0, page.y, 520, 520 * image.height() / max(1, image.width()))
    page.p.drawImage(box, image)
    page.y += box.height() + 4
    page.text(f"Signed by {sig.signer} on {sig.signed:%Y-%m-%d %H:%M}", size=9, colour=MUTED)
