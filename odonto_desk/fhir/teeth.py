"""Teeth and surfaces on the wire: the standard codings, the contained BodyStructure and the
two Apex extensions — written one way everywhere, read leniently from anything a server sends.

Written (``reference/fhir-dental.md`` §1 and §11):

* tooth ``CodeableConcept``: ADA Universal, then the SNOMED CT body structure, then FDI in the
  R4 ``ex-tooth`` system for permanent teeth (it has no primary teeth); ``text`` "Tooth 30";
* surfaces: ADA surface codes, one coding per surface; Class V as the tooth's facial letter
  plus our own ``V`` coding so the chart keeps it;
* Apex ``tooth-number`` (one ``valueCoding``, Universal) and ``tooth-surface`` (one per surface).

Read: the Apex extensions first (``valueCoding``, ``valueCode`` or ``valueString``, Universal
or FDI), then the element's tooth coding. Invalid codes raise :class:`FhirMappingError` with
the path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import Surface, facial_letter, normalize_surface, sort_surfaces
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError

# Current SNOMED CT "Structure of … tooth" concepts (reference/fhir-dental.md §1.2).
SNOMED_TOOTH: dict[str, str] = {
    "1": "68085002", "2": "863902006", "3": "865995000", "4": "36492000", "5": "57826002",
    "6": "860767006", "7": "424877001", "8": "422653006", "9": "424399000", "10": "423185002",
    "11": "860780009", "12": "61897005", "13": "23226009", "14": "865988009", "15": "863901004",
    "16": "87704003", "17": "74344005", "18": "863898000", "19": "866006002", "20": "24573005",
    "21": "2400006", "22": "860782001", "23": "423331005", "24": "425106001", "25": "424575004",
    "26": "423937004", "27": "860785004", "28": "80140008", "29": "8873007", "30": "866005003",
    "31": "863899008", "32": "38994002",
    "A": "27855007", "B": "17505006", "C": "30618001", "D": "65624003", "E": "88824007",
    "F": "51678005", "G": "43622005", "H": "73937000", "I": "45234009", "J": "51943008",
    "K": "49330006", "L": "38896004", "M": "43281008", "N": "14770005", "O": "89552004",
    "P": "67834006", "Q": "22445006", "R": "6062009", "S": "58646007", "T": "61868007",
}
_SURFACE_DISPLAY = {
    Surface.M: "Mesial", Surface.O: "Occlusal", Surface.I: "Incisal", Surface.D: "Distal",
    Surface.B: "Buccal", Surface.F: "Facial", Surface.L: "Lingual",
}


def tooth_display(tooth: Tooth) -> str:
    """'Permanent mandibular right first molar tooth', as THO's Universal system displays it."""
    return tooth.name[0].upper() + tooth.name[1:] + " tooth"


def snomed_display(tooth: Tooth) -> str:
    dentition = "deciduous" if tooth.is_primary else "permanent"
    return f"Structure of {dentition} {tooth.arch.value} {tooth.side.value} {tooth.tooth_type.value} tooth (body structure)"


def universal_coding(tooth: Tooth) -> dict[str, Any]:
    return {"system": codes.ADA_UNIVERSAL, "code": tooth.universal, "display": tooth_display(tooth)}


def tooth_codeable(tooth: Tooth) -> dict[str, Any]:
    """The tooth as a clinical ``bodySite`` CodeableConcept (Universal, SNOMED, FDI)."""
    coding = [universal_coding(tooth)]
    if not tooth.is_supernumerary and tooth.universal in SNOMED_TOOTH:
        coding.append({"system": codes.SNOMED, "code": SNOMED_TOOTH[tooth.universal],
                       "display": snomed_display(tooth)})
    if tooth.is_permanent and tooth.fdi_code:
        coding.append({"system": codes.FDI_TOOTH, "code": tooth.fdi_code, "display": tooth.fdi_code})
    return {"coding": coding, "text": f"Tooth {tooth.universal}"}


def claim_tooth_codeable(tooth: Tooth) -> dict[str, Any]:
    """The tooth as ``Claim.item.bodySite``: Universal only, as CARIN's OralBodySite binds it."""
    return {"coding": [universal_coding(tooth)]}


def surface_coding(surface: Surface, tooth: Tooth) -> dict[str, Any]:
    """ADA coding for one surface; V is sent as the tooth's facial letter."""
    s = facial_letter(tooth) if surface is Surface.V else surface
    return {"system": codes.ADA_SURFACE, "code": s.value, "display": _SURFACE_DISPLAY[s]}


def surface_codeable(surface: Surface, tooth: Tooth) -> dict[str, Any]:
    coding = [surface_coding(surface, tooth)]
    if surface is Surface.V:
        coding.append({"system": codes.CS_SURFACE_EXTRA, "code": "V", "display": "Class V (gingival third)"})
    return {"coding": coding}


def tooth_extensions(tooth: Tooth | None, surfaces: Iterable[Surface] = ()) -> list[dict[str, Any]]:
    """The Apex ``tooth-number`` and ``tooth-surface`` extensions, one per surface."""
    if tooth is None:
        return []
    out: list[dict[str, Any]] = [{"url": codes.EXT_TOOTH_NUMBER, "valueCoding": universal_coding(tooth)}]
    for s in sort_surfaces(surfaces):
        if s is Surface.V:
            coding = {"system": codes.CS_SURFACE_EXTRA, "code": "V", "display": "Class V (gingival third)"}
        else:
            coding = {"system": codes.ADA_SURFACE, "code": s.value, "display": _SURFACE_DISPLAY[s]}
        out.append({"url": codes.EXT_TOOTH_SURFACE, "valueCoding": coding})
    return out


def body_structure(bs_id: str, tooth: Tooth, surfaces: Iterable[Surface], patient_ref: str | None,
                   *, description: str | None = None) -> dict[str, Any]:
    """A contained BodyStructure: the tooth as ``location``, surfaces as ``locationQualifier``."""
    surfs = sort_surfaces(surfaces)
    bs: dict[str, Any] = {
        "resourceType": "BodyStructure",
        "id": bs_id,
        "location": tooth_codeable(tooth),
    }
    if surfs:
        bs["locationQualifier"] = [surface_codeable(s, tooth) for s in surfs]
    if description:
        bs["description"] = description
    if patient_ref:
        bs["patient"] = {"reference": patient_ref}
    return bs


def apex_tooth_block(tooth: Tooth | None, surfaces: Iterable[Surface], patient_ref: str | None,
                     *, bs_id: str = "tooth") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(contained, extension)`` for a clinical resource: BodyStructure + its reference +
    the Apex extensions. Empty lists when there is no tooth."""
    if tooth is None:
        return [], []
    surfs = list(surfaces)
    contained = [body_structure(bs_id, tooth, surfs, patient_ref)]
    ext = [{"url": codes.EXT_BODYSITE, "valueReference": {"reference": f"#{bs_id}"}}]
    ext += tooth_extensions(tooth, surfs)
    return contained, ext


# --- reading ----------------------------------------------------------------------------------


def _value_code(ext: dict[str, Any]) -> tuple[str | None, str | None]:
    """(system, code) of an extension value given as Coding, code or string."""
    if "valueCoding" in ext:
        c = ext["valueCoding"] or {}
        return c.get("system"), c.get("code")
    if "valueCode" in ext:
        return None, ext["valueCode"]
    if "valueString" in ext:
        return None, ext["valueString"]
    if "valueCodeableConcept" in ext:
        cc = (ext["valueCodeableConcept"] or {}).get("coding") or [{}]
        return cc[0].get("system"), cc[0].get("code")
    return None, None


def _tooth_from_code(system: str | None, code: str | None, path: str) -> Tooth:
    if code is None:
        raise FhirMappingError("tooth extension has no value", path=path)
    try:
        if system == codes.FDI_TOOTH:
            return Tooth.parse(code, NumberingSystem.FDI)
        return Tooth.parse(code, NumberingSystem.UNIVERSAL)
    except DomainError as exc:
        raise FhirMappingError(exc.message, path=path) from None


def read_tooth_extensions(element: dict[str, Any], path: str) -> tuple[Tooth | None, list[Tooth]]:
    """(first tooth, all teeth) named by Apex ``tooth-number`` extensions on ``element``."""
    teeth: list[Tooth] = []
    for i, ext in enumerate(element.get("extension") or []):
        if ext.get("url") == codes.EXT_TOOTH_NUMBER:
            system, code = _value_code(ext)
            teeth.append(_tooth_from_code(system, code, f"{path}.extension[{i}]"))
    return (teeth[0] if teeth else None), teeth


def tooth_from_codeable(cc: dict[str, Any] | None, path: str) -> Tooth | None:
    """The tooth a CodeableConcept (or Coding) names: Universal first, then FDI; else None."""
    if not cc:
        return None
    codings = cc.get("coding") if "coding" in cc else [cc]
    for system in (codes.ADA_UNIVERSAL, codes.FDI_TOOTH):
        for j, c in enumerate(codings or []):
            if c.get("system") == system:
                return _tooth_from_code(system, c.get("code"), f"{path}.coding[{j}]")
    return None


def read_surfaces(element: dict[str, Any], tooth: Tooth | None, path: str) -> frozenset[Surface]:
    """Surfaces from Apex ``tooth-surface`` extensions (a combined "MO" string is accepted)."""
    out: set[Surface] = set()
    for i, ext in enumerate(element.get("extension") or []):
        if ext.get("url") != codes.EXT_TOOTH_SURFACE:
            continue
        p = f"{path}.extension[{i}]"
        if tooth is None:
            raise FhirMappingError("a tooth-surface extension needs a tooth", path=p)
        _, code = _value_code(ext)
        if not code:
            raise FhirMappingError("tooth-surface extension has no value", path=p)
        for letter in code.strip().upper():
            try:
                out.add(normalize_surface(letter, tooth))
            except DomainError as exc:
                raise FhirMappingError(exc.message, path=p) from None
    return frozenset(out)


def read_sub_sites(sub_sites: list[dict[str, Any]] | None, tooth: Tooth | None, path: str) -> frozenset[Surface]:
    """Surfaces from ``Claim.item.subSite`` (one CodeableConcept per surface)."""
    out: set[Surface] = set()
    for i, cc in enumerate(sub_sites or []):
        p = f"{path}[{i}]"
        if tooth is None:
            raise FhirMappingError("a surface (subSite) needs a tooth (bodySite)", path=p)
        letters = [c.get("code") for c in cc.get("coding") or [] if c.get("system") in
                   (codes.ADA_SURFACE, codes.CS_SURFACE_EXTRA)]
        is_v = any(c.get("system") == codes.CS_SURFACE_EXTRA and c.get("code") == "V"
                   for c in cc.get("coding") or [])
        if is_v:
            out.add(Surface.V)
            continue
        if not letters:
            raise FhirMappingError("surface is not coded in ADAToothSurfaceCodes", path=p)
        try:
            out.add(normalize_surface(letters[0] or "", tooth))
        except DomainError as exc:
            raise FhirMappingError(exc.message, path=p) from None
    return frozenset(out)


def read_tooth_and_surfaces(resource: dict[str, Any], path: str,
                            body_site_key: str = "bodySite") -> tuple[Tooth | None, frozenset[Surface]]:
    """Tooth and surfaces of a clinical resource: the Apex extensions, else ``bodySite``."""
    tooth, _ = read_tooth_extensions(resource, path)
    if tooth is None:
        bs = resource.get(body_site_key)
        if isinstance(bs, list):
            for i, cc in enumerate(bs):
                tooth = tooth_from_codeable(cc, f"{path}.{body_site_key}[{i}]")
                if tooth:
                    break
        else:
            tooth = tooth_from_codeable(bs, f"{path}.{body_site_key}")
    surfaces = read_surfaces(resource, tooth, path)
    if not surfaces and tooth is not None:
        surfaces = _surfaces_from_contained(resource, tooth, path)
    return tooth, surfaces


def _surfaces_from_contained(resource: dict[str, Any], tooth: Tooth, path: str) -> frozenset[Surface]:
    for i, c in enumerate(resource.get("contained") or []):
        if c.get("resourceType") == "BodyStructure":
            return read_sub_sites(c.get("locationQualifier"), tooth, f"{path}.contained[{i}].locationQualifier")
    return frozenset()
