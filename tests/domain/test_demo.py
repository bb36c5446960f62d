"""The demo data: deterministic, clinically consistent between chart and perio exams."""

from __future__ import annotations

from odonto_desk.domain.chart import MarkStatus
from odonto_desk.domain.demo import demo_patients, demo_perio_exams
from odonto_desk.domain.perio_indices import summarize

GONE_KINDS = {"missing", "extraction", "impacted", "bridge pontic"}


def test_demo_is_deterministic():
    a = [e.to_dict() for p in demo_patients() for e in demo_perio_exams(p.id)]
    b = [e.to_dict() for p in demo_patients() for e in demo_perio_exams(p.id)]
    assert a == b and len(a) == 6


def test_teeth_gone_on_the_chart_are_missing_in_every_perio_exam():
    for patient in demo_patients():
        gone = {m.tooth for m in patient.marks if m.kind.value in GONE_KINDS and m.status is not
                MarkStatus.TREATMENT_PLANNED}
        for exam in demo_perio_exams(patient.id):
            assert all(exam.is_missing(t) for t in gone if t.is_permanent), (patient.id, exam.date)


def test_the_child_has_no_perio_exam_and_the_moderate_case_worsens():
    assert demo_perio_exams("demo-chen") == []
    haddad = [summarize(e) for e in demo_perio_exams("demo-haddad")]
    assert haddad[0].mean_cal < haddad[-1].mean_cal
    assert [e.date for e in demo_perio_exams("demo-haddad")] == sorted(e.date for e in demo_perio_exams("demo-haddad"))
