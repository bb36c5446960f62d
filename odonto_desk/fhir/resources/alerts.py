"""Medical alerts on the wire.

A :class:`MedicalAlert` is a ``Condition`` on the problem list (category ``problem-list-item`` of
HL7's condition-category) with a second category in our ``medical-alert-kind`` system, the alert
text as ``code.text``, ``clinicalStatus`` active / inactive (none when its ``verificationStatus`` is entered-in-error) and
``recordedDate``. It has no
``bodySite`` and no tooth extensions, so it is never read as a chart mark: the chart mapper does not
accept it and :func:`odonto_desk.fhir.resources.chart.on_chart` skips a Condition on no tooth.

A problem-list Condition from another system with no kind of ours and no tooth reads as an alert
of kind ``condition``.
"""

from __future__ import annotations

import copy
from typing import Any

from odonto_desk.domain.alerts import AlertKind, MedicalAlert
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import clean, code_in, construct, enum_of, parse_date, ref, ref_id

PROBLEM_LIST_ITEM = "problem-list-item"
_PROBLEM_LIST = {"coding": [{"system": codes.CONDITION_CATEGORY, "code": PROBLEM_LIST_ITEM,
                             "display": "Problem List Item"}]}
_LIVE = ("active", "recurrence", "relapse")


def _has_tooth(r: Resource) -> bool:
    return bool(r.get("bodySite")) or any(e.get("url") == codes.EXT_TOOTH_NUMBER for e in r.get("extension") or [])


def is_medical_alert(r: Any) -> bool:
    """A Condition carrying our alert kind, or a problem-list Condition on no tooth."""
    if not isinstance(r, dict) or r.get("resourceType") != "Condition":
        return False
    cats = r.get("category") or []
    if any(code_in(cc, codes.CS_ALERT_KIND) for cc in cats):
        return True
    return any(code_in(cc, codes.CONDITION_CATEGORY) == PROBLEM_LIST_ITEM for cc in cats) and not _has_tooth(r)


def build_alert(a: MedicalAlert) -> Resource:
    return clean({
        "resourceType": "Condition", "id": a.id,
        # FHIR's con-5: an entered-in-error Condition carries no clinical status.
        "clinicalStatus": None if a.entered_in_error else {"coding": [{
            "system": codes.CONDITION_CLINICAL, "code": "active" if a.active else "inactive"}]},
        "verificationStatus": {"coding": [{"system": codes.CONDITION_VER_STATUS,
                                           "code": "entered-in-error" if a.entered_in_error else "confirmed"}]},
        "category": [_PROBLEM_LIST, {"coding": [{"system": codes.CS_ALERT_KIND, "code": a.kind.value,
                                                 "display": a.kind.value.capitalize()}]}],
        "code": {"text": a.text},
        "subject": ref("Patient", a.patient),
        "recordedDate": a.recorded.isoformat() if a.recorded else None,
    })


def with_status(r: Resource, a: MedicalAlert) -> Resource:
    """``r`` (an alert as cached, perhaps from another system) with the status of ``a``, and nothing
    else changed: its codes, categories, notes and onset stay as they were.

    Resolving sets ``clinicalStatus`` inactive; reactivating sets it active and drops the
    ``abatement[x]`` an active Condition may not have (FHIR's con-4); entered in error sets the
    verification status and drops the clinical status (con-5); leaving entered-in-error confirms it.
    """
    out = copy.deepcopy(r)
    out.pop("text", None)  # the narrative described the old status
    verification = code_in(out.get("verificationStatus"), codes.CONDITION_VER_STATUS)
    if a.entered_in_error:
        out.pop("clinicalStatus", None)
        out["verificationStatus"] = {"coding": [{"system": codes.CONDITION_VER_STATUS, "code": "entered-in-error"}]}
        return out
    if verification == "entered-in-error":
        out["verificationStatus"] = {"coding": [{"system": codes.CONDITION_VER_STATUS, "code": "confirmed"}]}
    out["clinicalStatus"] = {"coding": [{"system": codes.CONDITION_CLINICAL,
                                         "code": "active" if a.active else "inactive"}]}
    if a.active:
        for key in [k for k in out if k.startswith("abatement")]:
            out.pop(key)
    return out


def read_alert(r: Resource) -> MedicalAlert:
    if not is_medical_alert(r):
        raise FhirMappingError("not a medical alert (a problem-list Condition on no tooth)", path="Condition.category")
    kind = AlertKind.CONDITION
    for i, cc in enumerate(r.get("category") or []):
        code = code_in(cc, codes.CS_ALERT_KIND)
        if code is not None:
            kind = enum_of(AlertKind, code, f"Condition.category[{i}]")
            break
    code = r.get("code") or {}
    text = code.get("text") or next((c.get("display") for c in code.get("coding") or [] if c.get("display")), "")
    clinical = code_in(r.get("clinicalStatus"), codes.CONDITION_CLINICAL)
    verification = code_in(r.get("verificationStatus"), codes.CONDITION_VER_STATUS)
    active = (clinical is None or clinical in _LIVE) and verification not in ("entered-in-error", "refuted")
    return construct(
        MedicalAlert, "Condition", {"text": "code.text", "recorded": "recordedDate"},
        id=r.get("id"), patient=ref_id(r.get("subject"), "Patient", "Condition.subject", required=True),
        text=text, kind=kind, recorded=parse_date(r.get("recordedDate"), "Condition.recordedDate"), active=active,
        entered_in_error=verification == "entered-in-error",
    )


register(Mapper(resource_types=("Condition",), domain_type=MedicalAlert, build=build_alert, read=read_alert,
                owned=("clinicalStatus", "verificationStatus", "category", "code", "subject", "recordedDate"),
                accepts=is_medical_alert))
