"""Code systems, extension URLs and identifier systems used on the wire.

One place for every URI. Where Apex has not published a URI (GPID, care-plan id), the
placeholders of ``reference/fhir-dental.md`` §12 are used; where we need codes no standard
has (chart-mark kind, material, chart status, perio measures), they live in the project's
own code systems under :data:`ODONTO_BASE`.
"""

from __future__ import annotations

# --- teeth and surfaces ---------------------------------------------------------------------
ADA_UNIVERSAL = "http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem"
ADA_SURFACE = "http://terminology.hl7.org/CodeSystem/ADAToothSurfaceCodes"
FDI_TOOTH = "http://terminology.hl7.org/CodeSystem/ex-tooth"  # R4 example system: permanent teeth only
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# --- Apex ---------------------------------------------------------------------------------
APEX_SD = "https://schemas.parkerapex.com/fhir/StructureDefinition/"
EXT_TOOTH_NUMBER = APEX_SD + "tooth-number"
EXT_TOOTH_SURFACE = APEX_SD + "tooth-surface"
GPID_SYSTEM = "https://schemas.parkerapex.com/fhir/sid/gpid"
CARE_PLAN_ID_SYSTEM = "https://schemas.parkerapex.com/fhir/sid/care-plan-id"

# --- core FHIR ------------------------------------------------------------------------------
EXT_BODYSITE = "http://hl7.org/fhir/StructureDefinition/bodySite"
CDT = "http://www.ada.org/cdt"
CDT_ALIASES = frozenset({CDT, "http://ada.org/cdt", "https://www.ada.org/cdt", "https://ada.org/cdt"})
DENTAL_CATEGORY = "http://hl7.org/fhir/us/dental-data-exchange/CodeSystem/dental-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
PAYEE_TYPE = "http://terminology.hl7.org/CodeSystem/payeetype"
CLAIM_CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
CLAIM_INFO_CATEGORY = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
MISSING_TOOTH_REASON = "http://terminology.hl7.org/CodeSystem/missingtoothreason"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
DICOM_UID_SYSTEM = "urn:dicom:uid"
URI_SYSTEM = "urn:ietf:rfc:3986"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"

# --- the project's own ------------------------------------------------------------------------
ODONTO_BASE = "https://odonto-desk.org/fhir/"
CS_MARK_KIND = ODONTO_BASE + "CodeSystem/chart-mark-kind"
CS_MARK_STATUS = ODONTO_BASE + "CodeSystem/chart-status"
CS_MATERIAL = ODONTO_BASE + "CodeSystem/restorative-material"
CS_SURFACE_EXTRA = ODONTO_BASE + "CodeSystem/surface"  # V (Class V), which ADA's system lacks
CS_SERVICE_CATEGORY = ODONTO_BASE + "CodeSystem/service-category"  # the portal's eight
CS_PERIO = ODONTO_BASE + "CodeSystem/perio"
CS_ALERT_KIND = ODONTO_BASE + "CodeSystem/medical-alert-kind"  # allergy, medication, condition, premedication
EXT_MARK_STATUS = ODONTO_BASE + "StructureDefinition/chart-status"
LOCAL_ID_SYSTEM = ODONTO_BASE + "sid/local-id"  # client-generated business identifier (urn:uuid:…)

# SNOMED CT codes for chart conditions (checked against the Dental IG's tables where listed).
SNOMED_CARIES = "80967001"
SNOMED_REFERRAL = "3457005"
