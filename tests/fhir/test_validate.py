from __future__ import annotations

import pytest
from helpers import example_files

from odonto_desk.fhir.errors import FhirValidationError
from odonto_desk.fhir.validate import parse_json, validate


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_reference_examples_are_valid(path):
    validate(parse_json(path.read_bytes()))


@pytest.mark.parametrize(("resource", "path", "needle"), [
    ({"id": "x"}, "resourceType", "missing"),
    ({"resourceType": "Appointment", "status": "booked", "participant": []}, "resourceType", "not supported"),
    ({"resourceType": "Procedure", "status": "done", "subject": {"reference": "Patient/1"}},
     "Procedure.status", "not one of"),
    ({"resourceType": "Procedure", "subject": {"reference": "Patient/1"}}, "Procedure.status", "required"),
    ({"resourceType": "Patient", "birthDate": "12/04/1987"}, "Patient.birthDate", "does not match"),
    ({"resourceType": "Patient", "nickname": "JR"}, "Patient.nickname", "Extra"),
    ({"resourceType": "Claim", "status": "active", "use": "claim", "patient": {"reference": "Patient/1"},
      "created": "2025-01-01", "provider": {"reference": "Organization/1"},
      "priority": {"coding": [{"code": "normal"}]}, "insurance": [{"sequence": 1, "focal": True,
                                                                    "coverage": {"reference": "Coverage/1"}}],
      "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                           "code": "professional"}]}}, "Claim.type", "oral"),
])
def test_invalid_resources_name_the_path(resource, path, needle):
    with pytest.raises(FhirValidationError, match=needle) as err:
        validate(resource)
    assert err.value.path == path


def test_r4b_only_extension_values_are_refused():
    res = {"resourceType": "Patient", "extension": [{"url": "http://x", "valueRatioRange": {}}]}
    with pytest.raises(FhirValidationError):
        validate(res)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b"\xff\xfe"])
def test_parse_json_refuses_non_objects(raw):
    with pytest.raises(FhirValidationError):
        parse_json(raw)


def test_parse_json_size_limit():
    with pytest.raises(FhirValidationError, match="limit"):
        parse_json(b'{"a": "' + b"x" * 100 + b'"}', max_bytes=50)


def test_expected_type():
    with pytest.raises(FhirValidationError, match="expected a Claim"):
        validate({"resourceType": "Patient"}, expected_type="Claim")


def test_bundle_entries_are_checked_with_their_index():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Procedure", "status": "bogus", "subject": {"reference": "Patient/1"}},
         "request": {"method": "POST", "url": "Procedure"}}]}
    with pytest.raises(FhirValidationError) as err:
        validate(bundle)
    assert err.value.path == "Bundle.entry[1].resource.Procedure.status"
