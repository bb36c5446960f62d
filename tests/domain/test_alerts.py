"""Medical alerts: validated once in the domain, listed allergies first."""

from __future__ import annotations

import datetime as dt

import pytest

from odonto_desk.domain.alerts import (
    MAX_ALERT_TEXT,
    AlertKind,
    MedicalAlert,
    check_new_alert,
    editor_order,
    header_order,
    in_error,
    reactivated,
    resolved,
)
from odonto_desk.domain.demo import demo_patients
from odonto_desk.domain.errors import DomainError


def test_an_alert_keeps_its_text_trimmed_and_shows_it_capitalized():
    a = MedicalAlert(patient="p-1", text="  latex   allergy ", kind="allergy", recorded=dt.date(2020, 1, 2))
    assert a.text == "latex allergy" and a.label == "Latex allergy" and a.kind is AlertKind.ALLERGY and a.active


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_alert_without_text_is_refused_clearly(text):
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient="p-1", text=text, kind="allergy")
    assert err.value.field == "text" and "needs its text" in err.value.message


def test_an_alert_longer_than_one_line_is_refused():
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient="p-1", text="x" * (MAX_ALERT_TEXT + 1))
    assert err.value.field == "text" and f"at most {MAX_ALERT_TEXT}" in err.value.message
    assert MedicalAlert(patient="p-1", text="x" * MAX_ALERT_TEXT).text == "x" * MAX_ALERT_TEXT


def test_an_unknown_kind_a_future_date_or_no_patient_is_refused():
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient="p-1", text="latex", kind="rumour")
    assert err.value.field == "kind"
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient="p-1", text="latex", recorded=dt.date.today() + dt.timedelta(days=1))
    assert err.value.field == "recorded"
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient=" ", text="latex")
    assert err.value.field == "patient"


def test_the_header_order_puts_allergies_first_and_drops_inactive_alerts():
    alerts = [MedicalAlert(patient="p", text="warfarin", kind="medication"),
              MedicalAlert(patient="p", text="diabetes", kind="condition"),
              MedicalAlert(patient="p", text="old penicillin note", kind="allergy", active=False),
              MedicalAlert(patient="p", text="premedicate: joint replacement", kind="premedication"),
              MedicalAlert(patient="p", text="latex allergy", kind="allergy")]
    assert [a.text for a in header_order(alerts)] == ["latex allergy", "premedicate: joint replacement",
                                                       "warfarin", "diabetes"]


def test_the_demo_patients_carry_their_alerts():
    by_id = {p.id: p for p in demo_patients()}
    assert [(a.kind, a.text) for a in by_id["demo-rivera"].alerts] == [(AlertKind.ALLERGY, "latex allergy")]
    assert by_id["demo-chen"].alerts == ()
    assert {a.kind for a in by_id["demo-haddad"].alerts} == {AlertKind.MEDICATION, AlertKind.PREMEDICATION}


def test_an_alert_resolved_reactivated_or_entered_in_error_keeps_its_id_and_text():
    a = MedicalAlert(patient="p", text="warfarin", kind="medication")
    done = resolved(a)
    assert (done.id, done.text, done.active, done.entered_in_error) == (a.id, "warfarin", False, False)
    again = reactivated(done)
    assert again.active and not again.entered_in_error and again == a
    wrong = in_error(a)
    assert not wrong.active and wrong.entered_in_error and wrong.id == a.id
    assert reactivated(wrong) == a  # a mistake about a mistake is undone the same way


def test_an_alert_cannot_be_both_active_and_entered_in_error():
    with pytest.raises(DomainError) as err:
        MedicalAlert(patient="p", text="latex", entered_in_error=True)
    assert err.value.field == "entered_in_error" and "entered in error is not active" in err.value.message
    assert MedicalAlert(patient="p", text="latex", active=False, entered_in_error=True).entered_in_error


def test_the_editor_lists_active_alerts_first_then_resolved_ones_newest_first_and_never_mistakes():
    alerts = [MedicalAlert(patient="p", text="old warfarin", kind="medication", active=False,
                           recorded=dt.date(2015, 1, 1)),
              MedicalAlert(patient="p", text="diabetes", kind="condition"),
              MedicalAlert(patient="p", text="wrong chart", kind="allergy", active=False, entered_in_error=True),
              MedicalAlert(patient="p", text="clopidogrel", kind="medication", active=False,
                           recorded=dt.date(2020, 1, 1)),
              MedicalAlert(patient="p", text="latex allergy", kind="allergy")]
    assert [a.text for a in editor_order(alerts)] == ["latex allergy", "diabetes", "clopidogrel", "old warfarin"]
    assert "wrong chart" not in [a.text for a in header_order(alerts)]


def test_a_second_active_alert_of_the_same_kind_and_text_is_refused():
    latex = MedicalAlert(patient="p", text="latex allergy", kind="allergy")
    with pytest.raises(DomainError) as err:
        check_new_alert(MedicalAlert(patient="p", text="Latex  Allergy", kind="allergy"), [latex])
    assert err.value.field == "text" and "Allergy: latex allergy" in err.value.message
    assert "already listed" in err.value.message
    # the same words as another kind, or a resolved one, can be recorded again
    check_new_alert(MedicalAlert(patient="p", text="latex allergy", kind="condition"), [latex])
    check_new_alert(MedicalAlert(patient="p", text="latex allergy", kind="allergy"), [resolved(latex)])
