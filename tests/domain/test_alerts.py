"""Medical alerts: validated once in the domain, listed allergies first."""

from __future__ import annotations

import datetime as dt

import pytest

from odonto_desk.domain.alerts import MAX_ALERT_TEXT, AlertKind, MedicalAlert, header_order
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
