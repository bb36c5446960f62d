from __future__ import annotations

import copy
import datetime as dt

import pytest
from helpers import GPID
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import (
    Encounter,
    HumanName,
    Organization,
    Patient,
    Practitioner,
    npi_is_valid,
)
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate

MST = dt.timezone(dt.timedelta(hours=-7))
VALID_NPI = "1234567893"  # the CMS worked example: check digit 3

PATIENT = Patient(id="p-1", gpid="APX-7KQ2M9PZ", name=HumanName(family="Chen", given=("Mia",)),
                  birth_date=dt.date(2017, 9, 3), gender="female", phone="555 0100", email="mia@example.org",
                  address={"lines": ["1 Main St", "Apt 2"], "city": "Springfield", "postal_code": "62701"},
                  identifiers=[{"system": "urn:example:chart", "value": "C-9"}], practice="org-1")
PRACTITIONER = Practitioner(id="dr-1", name={"family": "Okafor", "given": ["Sam"], "prefix": ["Dr."],
                                             "suffix": ["DDS"]}, npi=VALID_NPI, role="dentist")
HYGIENIST = Practitioner(id="rdh-1", name={"family": "Lund"}, role="hygienist")
PRACTICE = Organization(id="org-1", name="Maple Dental", kind="practice", npi=VALID_NPI, tax_id="123456789")
LAB = Organization(id="lab-1", name="Crown Lab", kind="lab")
PAYER = Organization(id="payer-1", name="Delta Example", kind="payer")
VISIT = Encounter(id="enc-1", patient="p-1", provider="dr-1", start=dt.datetime(2025, 3, 3, 9, 0, tzinfo=MST),
                  end=dt.datetime(2025, 3, 3, 10, 0, tzinfo=MST), status="finished", kind="hygiene",
                  practice="org-1")
PLANNED = Encounter(patient="p-1", start=dt.datetime(2025, 4, 1, 8, 30, tzinfo=dt.UTC), kind="emergency")

OBJECTS = [PATIENT, PRACTITIONER, HYGIENIST, PRACTICE, LAB, PAYER, VISIT, PLANNED]


@pytest.mark.parametrize("obj", OBJECTS, ids=[f"{type(o).__name__}-{i}" for i, o in enumerate(OBJECTS)])  # no random ids
def test_domain_to_fhir_to_domain(obj):
    res = to_fhir(obj)
    assert res["resourceType"] == type(obj).__name__
    validate(res)
    assert from_fhir(res, expect=type(obj)) == obj
    assert to_fhir(obj, base=res) == res  # nothing changed: the base comes back as it was


def test_patient_example_maps_in_and_out_without_loss(load_example):
    ex = load_example("patient.json")
    patient = from_fhir(ex, expect=Patient)
    assert to_fhir(patient, base=ex) == ex
    fresh = to_fhir(patient)
    validate(fresh)
    assert from_fhir(fresh) == patient


def test_patient_example_reads_its_fields(load_example):
    p = from_fhir(load_example("patient.json"))
    assert (p.gpid, p.name.display, p.birth_date, p.gender.value) == (GPID, "Jordan Lee Rivera",
                                                                       dt.date(1987, 4, 12), "female")
    assert (p.phone, p.email, p.practice) == ("+1-555-010-0451", "jordan.rivera@example.org", "odonto-practice-1")
    assert p.address is not None and (p.address.lines, p.address.postal_code) == (("123 Example St",), "62701")
    assert [(i.system, i.value) for i in p.identifiers] == [("urn:oid:2.16.840.1.113883.19.5.99999.1",
                                                              "CHART-000451")]


def test_a_patient_edit_lands_and_unmodelled_elements_survive(load_example):
    ex = load_example("patient.json")
    p = from_fhir(ex)
    moved = p.model_copy(update={"phone": "+1-555-010-9999"})
    out = to_fhir(moved, base=ex)
    validate(out)
    assert from_fhir(out) == moved
    assert out["active"] is True and "text" not in out
    assert [i["value"] for i in out["identifier"]] == [GPID, "CHART-000451"]
    assert out["telecom"][0]["value"] == "+1-555-010-9999"


def test_practitioner_and_organization_codes():
    dr = to_fhir(PRACTITIONER)
    assert dr["identifier"] == [{"system": codes.NPI_SYSTEM, "value": VALID_NPI}]
    assert dr["name"] == [{"family": "Okafor", "given": ["Sam"], "prefix": ["Dr."], "suffix": ["DDS"]}]
    assert PRACTITIONER.name.display == "Dr. Sam Okafor, DDS"
    org = to_fhir(PRACTICE)
    assert org["type"][0]["coding"][0] == {"system": codes.ORGANIZATION_TYPE, "code": "prov",
                                           "display": "Healthcare Provider"}
    assert org["identifier"][1]["value"] == "12-3456789"
    # A payer from another system, coded only with HL7 organization-type, still reads as a payer.
    foreign = {"resourceType": "Organization", "id": "x", "name": "Some Payer",
               "type": [{"coding": [{"system": codes.ORGANIZATION_TYPE, "code": "ins"}]}]}
    assert from_fhir(foreign).kind.value == "payer"


def test_encounter_codes():
    res = to_fhir(VISIT)
    assert res["class"]["code"] == "AMB"
    assert res["period"] == {"start": "2025-03-03T09:00:00-07:00", "end": "2025-03-03T10:00:00-07:00"}
    assert res["participant"] == [{"individual": {"reference": "Practitioner/dr-1"}}]


# --- domain rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "field", "needle"), [
    (lambda: Patient(gpid="APX-12", name={"family": "X"}), "gpid", "not a GPID"),
    (lambda: Patient(gpid="APX-1A2B3C4", name={"family": "X"}), "gpid", "not a GPID"),
    (lambda: Patient(gpid="APX-1A2B3C4D!", name={"family": "X"}), "gpid", "not a GPID"),
    (lambda: Patient(gpid=GPID, name={"family": " "}), "name.family", "family name"),
    (lambda: Patient(gpid=GPID, name={"family": "X"}, email="no-at-sign"), "email", "e-mail"),
    (lambda: Patient(gpid=GPID, name={"family": "X"}, birth_date=dt.date.today() + dt.timedelta(days=1)),
     "birth_date", "future"),
    (lambda: Practitioner(name={"family": "X"}, npi="1234567890"), "npi", "check digit"),
    (lambda: Practitioner(name={"family": "X"}, npi="12345"), "npi", "10 digits"),
    (lambda: Organization(name="X", kind="payer", npi="1234567894"), "npi", "check digit"),
    (lambda: Organization(name="X", kind="school"), "kind", "practice"),
    (lambda: Organization(name="X", kind="lab", tax_id="12-345"), "tax_id", "tax id"),
    (lambda: Encounter(patient="p", start=dt.datetime(2025, 3, 3, 9)), "start", "time zone"),
    (lambda: Encounter(patient="p", start=VISIT.start, end=VISIT.start - dt.timedelta(hours=1)), "end", "before"),
    (lambda: Encounter(patient="p", start=VISIT.start, status="finished"), "end", "end time"),
])
def test_bad_input_names_the_field(make, field, needle):
    with pytest.raises(DomainError, match=needle) as info:
        make()
    assert info.value.field == field


def test_gpid_is_read_in_capitals():
    assert Patient(gpid=" apx-1a2b3c4d ", name={"family": "X"}).gpid == "APX-1A2B3C4D"


def _with_check_digit(first9: str) -> str:
    for d in "0123456789":
        if npi_is_valid(first9 + d):
            return first9 + d
    raise AssertionError("every nine digits have exactly one check digit")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9), st.integers(1, 9))
def test_npi_check_digit_catches_any_single_digit_typo(first9, position, bump):
    npi = _with_check_digit(first9)
    assert [npi_is_valid(first9 + d) for d in "0123456789"].count(True) == 1
    typo = npi[:position] + str((int(npi[position]) + bump) % 10) + npi[position + 1:]
    assert not npi_is_valid(typo)
    assert Practitioner(name={"family": "X"}, npi=npi).npi == npi


# --- reading errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r.update(identifier=r["identifier"][1:]), "Patient.identifier"),
    (lambda r: r["identifier"][0].update(value="APX-12"), "Patient.identifier"),
    (lambda r: r.update(gender="f"), "Patient.gender"),
    (lambda r: r.update(birthDate="April 1987"), "Patient.birthDate"),
    (lambda r: r["name"][0].pop("family"), "Patient.name[0].family"),
    (lambda r: r.pop("name"), "Patient.name"),
    (lambda r: r.update(managingOrganization={"reference": "Practitioner/x"}), "Patient.managingOrganization"),
])
def test_bad_patients_raise_with_a_path(mutate, path, load_example):
    ex = copy.deepcopy(load_example("patient.json"))
    mutate(ex)
    with pytest.raises(FhirMappingError) as info:
        from_fhir(ex)
    assert info.value.path == path


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r.update(status="triaged"), "Encounter.status"),
    (lambda r: r.pop("subject"), "Encounter.subject"),
    (lambda r: r["period"].pop("start"), "Encounter.period.start"),
    (lambda r: r["period"].update(start="2025-03-03T09:00:00"), "Encounter.period.start"),
    (lambda r: r["type"][0]["coding"][0].update(code="party"), "Encounter.type[0]"),
])
def test_bad_encounters_raise_with_a_path(mutate, path):
    res = to_fhir(VISIT)
    mutate(res)
    with pytest.raises(FhirMappingError) as info:
        from_fhir(res)
    assert info.value.path == path


def test_bad_practitioner_npi_is_reported_at_the_identifier():
    res = to_fhir(PRACTITIONER)
    res["identifier"][0]["value"] = "1234567890"
    with pytest.raises(FhirMappingError, match="check digit") as info:
        from_fhir(res)
    assert info.value.path == "Practitioner.identifier"


def test_wrong_resource_type_is_refused(load_example):
    with pytest.raises(FhirMappingError, match="expected a resource for Practitioner") as info:
        from_fhir(load_example("patient.json"), expect=Practitioner)
    assert info.value.path == "resourceType"
