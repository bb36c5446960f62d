"""CDT procedure codes: format, service category, the rules a code implies, and the catalog.

The ADA owns CDT: its code list and descriptors are licensed, so this module ships *rules about
the structure of codes* (which ranges need a tooth, how surface counts pick a code within a
family) and a tiny demo list with our own short labels. A practice loads its licensed list with
:func:`parse_catalog_csv`.

Service categories are the eight of the Apex portal. CDT's own ranges map onto them as
``reference/fhir-dental.md`` §7 proposes; endodontics (D3) counts as restorative, implant
services (D6000–D6199) as prosthodontic except surgical placement (D6010–D6199 below D6050),
and adjunctive services (D9) default to diagnostic unless the catalog says otherwise.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from odonto_desk.domain.errors import InvalidCode
from odonto_desk.domain.surfaces import Surface, format_surfaces
from odonto_desk.domain.teeth import Tooth

CDT_SYSTEM = "http://www.ada.org/cdt"
_CODE_RE = re.compile(r"^D\d{4}$")


class ServiceCategory(enum.StrEnum):
    """The Apex portal's eight service categories."""

    PREVENTIVE = "preventive"
    DIAGNOSTIC = "diagnostic"
    RESTORATIVE = "restorative"
    PERIODONTAL = "periodontal"
    ORTHODONTIC = "orthodontic"
    ORAL_SURGERY = "oral_surgery"
    PROSTHODONTIC = "prosthodontic"
    LAB_APPLIANCE = "lab_appliance"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Area(enum.StrEnum):
    """What a code is charted on."""

    TOOTH = "tooth"
    QUADRANT = "quadrant"
    ARCH = "arch"
    MOUTH = "mouth"


class Region(enum.StrEnum):
    """Which teeth a tooth-level code applies to."""

    ANY = "any"
    ANTERIOR = "anterior"
    POSTERIOR = "posterior"
    PREMOLAR = "premolar"
    MOLAR = "molar"


def normalize_code(code: str) -> str:
    """``"d2392"`` → ``"D2392"``; anything not ``D`` + four digits raises :class:`InvalidCode`."""
    c = str(code).strip().upper()
    if not _CODE_RE.match(c):
        raise InvalidCode(f"{code!r} is not a CDT code: a CDT code is D followed by four digits (D0000–D9999)",
                          field="code")
    return c


def default_category(code: str) -> ServiceCategory:
    n = int(normalize_code(code)[1:])
    if n < 1000:
        return ServiceCategory.DIAGNOSTIC
    if n < 2000:
        return ServiceCategory.PREVENTIVE
    if n < 4000:
        return ServiceCategory.RESTORATIVE  # D2 restorative, D3 endodontics
    if n < 5000:
        return ServiceCategory.PERIODONTAL
    if 6010 <= n < 6050:
        return ServiceCategory.ORAL_SURGERY  # surgical implant placement
    if n < 7000:
        return ServiceCategory.PROSTHODONTIC
    if n < 8000:
        return ServiceCategory.ORAL_SURGERY
    if n < 9000:
        return ServiceCategory.ORTHODONTIC
    return ServiceCategory.DIAGNOSTIC


@dataclass(frozen=True)
class CodeRule:
    """What a code requires of a chart mark."""

    area: Area = Area.TOOTH
    tooth_required: bool = False
    surfaces_min: int = 0
    surfaces_max: int = 0  # 0 with surfaces_min 0: surfaces not allowed; -1: no upper bound
    region: Region = Region.ANY
    permanent_only: bool = False
    primary_only: bool = False
    family: str | None = None  # e.g. "composite": the codes that differ only by surface count

    def describe_surfaces(self) -> str:
        if self.surfaces_min == 0 and self.surfaces_max == 0:
            return "no surfaces"
        if self.surfaces_max == -1:
            return f"{self.surfaces_min} or more surfaces"
        if self.surfaces_min == self.surfaces_max:
            return f"exactly {self.surfaces_min} surface{'s' if self.surfaces_min != 1 else ''}"
        return f"{self.surfaces_min}–{self.surfaces_max} surfaces"


# Surface-count families: (family, region, [(code, min, max), ...]). Code numbers and counts
# only; the wording that goes with them comes from the practice's licensed file.
_SURFACE_FAMILIES: list[tuple[str, Region, list[tuple[str, int, int]]]] = [
    ("amalgam", Region.ANY, [("D2140", 1, 1), ("D2150", 2, 2), ("D2160", 3, 3), ("D2161", 4, -1)]),
    ("composite", Region.ANTERIOR, [("D2330", 1, 1), ("D2331", 2, 2), ("D2332", 3, 3), ("D2335", 4, -1)]),
    ("composite", Region.POSTERIOR, [("D2391", 1, 1), ("D2392", 2, 2), ("D2393", 3, 3), ("D2394", 4, -1)]),
    ("gold foil", Region.ANY, [("D2410", 1, 1), ("D2420", 2, 2), ("D2430", 3, 3)]),
    ("inlay metal", Region.ANY, [("D2510", 1, 1), ("D2520", 2, 2), ("D2530", 3, -1)]),
    ("onlay metal", Region.POSTERIOR, [("D2542", 2, 2), ("D2543", 3, 3), ("D2544", 4, -1)]),
    ("inlay ceramic", Region.ANY, [("D2610", 1, 1), ("D2620", 2, 2), ("D2630", 3, -1)]),
    ("onlay ceramic", Region.POSTERIOR, [("D2642", 2, 2), ("D2643", 3, 3), ("D2644", 4, -1)]),
    ("inlay resin", Region.ANY, [("D2650", 1, 1), ("D2651", 2, 2), ("D2652", 3, -1)]),
    ("onlay resin", Region.POSTERIOR, [("D2662", 2, 2), ("D2663", 3, 3), ("D2664", 4, -1)]),
]

# Whole-tooth codes and ranges: (first, last, rule).
_TOOTH_RANGES: list[tuple[int, int, CodeRule]] = [
    (2390, 2390, CodeRule(tooth_required=True, region=Region.ANTERIOR)),
    (2710, 2799, CodeRule(tooth_required=True)),  # crowns
    (2910, 2929, CodeRule(tooth_required=True)),  # recement, prefab primary
    (2930, 2930, CodeRule(tooth_required=True, primary_only=True)),
    (2931, 2931, CodeRule(tooth_required=True, permanent_only=True)),
    (2932, 2934, CodeRule(tooth_required=True)),
    (2940, 2941, CodeRule(tooth_required=True)),  # protective / interim restorations
    (2950, 2957, CodeRule(tooth_required=True)),  # buildups, posts
    (2960, 2962, CodeRule(tooth_required=True)),  # veneers
    (3110, 3240, CodeRule(tooth_required=True)),  # pulp caps, pulpotomy, primary pulp therapy
    (3310, 3310, CodeRule(tooth_required=True, region=Region.ANTERIOR)),
    (3320, 3320, CodeRule(tooth_required=True, region=Region.PREMOLAR, permanent_only=True)),
    (3330, 3330, CodeRule(tooth_required=True, region=Region.MOLAR, permanent_only=True)),
    (3346, 3348, CodeRule(tooth_required=True)),
    (3410, 3470, CodeRule(tooth_required=True)),  # apicoectomy etc.
    (1351, 1353, CodeRule(tooth_required=True, surfaces_max=-1, region=Region.POSTERIOR)),  # sealants
    (4210, 4212, CodeRule(area=Area.QUADRANT)),
    (4240, 4241, CodeRule(area=Area.QUADRANT)),
    (4260, 4261, CodeRule(area=Area.QUADRANT)),
    (4341, 4342, CodeRule(area=Area.QUADRANT)),
    (5110, 5229, CodeRule(area=Area.ARCH)),  # complete and partial dentures
    (6010, 6199, CodeRule(tooth_required=True, permanent_only=True)),  # implant services
    (6200, 6999, CodeRule(tooth_required=True)),  # fixed prosthodontics: pontics and retainers
    (7111, 7251, CodeRule(tooth_required=True)),  # extractions
    (8000, 8999, CodeRule(area=Area.MOUTH)),
]


def _build_static_rules() -> dict[str, CodeRule]:
    rules: dict[str, CodeRule] = {}
    for family, region, members in _SURFACE_FAMILIES:
        for code, lo, hi in members:
            rules[code] = CodeRule(tooth_required=True, surfaces_min=lo, surfaces_max=hi, region=region,
                                   family=family)
    return rules


_STATIC_RULES = _build_static_rules()


def rule_for(code: str) -> CodeRule:
    """The rule CDT's structure implies for ``code`` (catalog entries may override it)."""
    c = normalize_code(code)
    hit = _STATIC_RULES.get(c)
    if hit is not None:
        return hit
    n = int(c[1:])
    for lo, hi, rule in _TOOTH_RANGES:
        if lo <= n <= hi:
            return rule
    if n < 1300 or n >= 9000:  # exams, images, cleanings and adjunctive services: whole mouth
        return CodeRule(area=Area.MOUTH, tooth_required=False)
    # Unknown territory: a tooth may be given, surfaces may be given.
    return CodeRule(tooth_required=False, surfaces_min=0, surfaces_max=-1)


def _region_ok(region: Region, tooth: Tooth) -> bool:
    tt = tooth.tooth_type
    return {
        Region.ANY: True,
        Region.ANTERIOR: tooth.is_anterior,
        Region.POSTERIOR: tooth.is_posterior,
        Region.PREMOLAR: tt.is_premolar,
        Region.MOLAR: tt.is_molar,
    }[region]


def check_code(code: str, tooth: Tooth | None, surfaces: Iterable[Surface], rule: CodeRule | None = None) -> None:
    """Raise :class:`InvalidCode` (naming the field) if ``code`` does not fit this tooth and surfaces."""
    c = normalize_code(code)
    r = rule or rule_for(c)
    surfs = frozenset(surfaces)
    if r.area is not Area.TOOTH and tooth is not None:
        raise InvalidCode(f"{c} is charted on a {r.area.value}, not on a single tooth", field="tooth")
    if r.tooth_required and tooth is None:
        raise InvalidCode(f"{c} needs a tooth", field="tooth")
    if tooth is not None:
        if not _region_ok(r.region, tooth):
            raise InvalidCode(
                f"{c} is for {r.region.value} teeth; tooth {tooth.universal} is a {tooth.tooth_type.value}",
                field="code",
            )
        if r.permanent_only and tooth.is_primary:
            raise InvalidCode(f"{c} is for permanent teeth; tooth {tooth.universal} is primary", field="tooth")
        if r.primary_only and not tooth.is_primary:
            raise InvalidCode(f"{c} is for primary teeth; tooth {tooth.universal} is permanent", field="tooth")
    n = len(surfs)
    if r.surfaces_min == 0 and r.surfaces_max == 0:
        if n:
            raise InvalidCode(f"{c} takes no surfaces (got {format_surfaces(surfs)})", field="surfaces")
        return
    if n < r.surfaces_min or (r.surfaces_max != -1 and n > r.surfaces_max):
        better = suggest_code(r.family, tooth, surfs) if (r.family and tooth is not None) else None
        hint = f"; for {n} surface{'s' if n != 1 else ''} use {better}" if better and better != c else ""
        raise InvalidCode(
            f"{c} needs {r.describe_surfaces()}, got {n} ({format_surfaces(surfs) or 'none'}){hint}",
            field="surfaces",
        )


def suggest_code(family: str | None, tooth: Tooth | None, surfaces: Iterable[Surface]) -> str | None:
    """The code of ``family`` that fits this tooth and surface count (Open Dental's 'Auto Codes')."""
    if family is None or tooth is None:
        return None
    n = len(frozenset(surfaces))
    for fam, region, members in _SURFACE_FAMILIES:
        if fam != family or not _region_ok(region, tooth):
            continue
        for code, lo, hi in members:
            if n >= lo and (hi == -1 or n <= hi):
                return code
    return None


FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(f for f, _, _ in _SURFACE_FAMILIES))


# --- the catalog -------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    label: str
    category: ServiceCategory
    rule: CodeRule
    fee: Decimal | None = None
    abbreviation: str = ""


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line number in the file, header is line 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.row}, column {self.column!r}: {self.message}"


@dataclass
class CatalogImport:
    entries: list[CatalogEntry] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class Catalog:
    """The practice's procedure codes: code → entry, plus search and the rule to check against."""

    def __init__(self, entries: Iterable[CatalogEntry] = ()) -> None:
        self._by_code: dict[str, CatalogEntry] = {}
        for e in entries:
            self._by_code[e.code] = e

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.upper() in self._by_code

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._by_code.values(), key=lambda e: e.code))

    def get(self, code: str) -> CatalogEntry | None:
        return self._by_code.get(normalize_code(code))

    def rule(self, code: str) -> CodeRule:
        e = self.get(code)
        return e.rule if e else rule_for(code)

    def category(self, code: str) -> ServiceCategory:
        e = self.get(code)
        return e.category if e else default_category(code)

    def label(self, code: str) -> str:
        e = self.get(code)
        return e.label if e else normalize_code(code)

    def check(self, code: str, tooth: Tooth | None, surfaces: Iterable[Surface]) -> None:
        check_code(code, tooth, surfaces, self.rule(code))

    def search(self, text: str, category: ServiceCategory | None = None, limit: int = 50) -> list[CatalogEntry]:
        """Entries whose code, abbreviation or label contain every word of ``text``."""
        words = text.lower().split()
        out = []
        for e in self:
            if category is not None and e.category is not category:
                continue
            hay = f"{e.code} {e.abbreviation} {e.label}".lower()
            if all(w in hay for w in words):
                out.append(e)
                if len(out) >= limit:
                    break
        return out

    def merged(self, other: Catalog) -> Catalog:
        """This catalog with ``other``'s entries replacing ours where codes match."""
        return Catalog([*self._by_code.values(), *other._by_code.values()])


CSV_COLUMNS = ("code", "label", "category", "area", "surfaces_min", "surfaces_max", "region", "fee",
               "abbreviation")


def _int_cell(value: str, column: str, row: int, errors: list[RowError], lo: int, hi: int) -> int | None:
    if value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        errors.append(RowError(row, column, f"{value!r} is not a whole number"))
        return None
    if not lo <= n <= hi:
        errors.append(RowError(row, column, f"{n} is outside {lo}–{hi}"))
        return None
    return n


def parse_catalog_csv(text: str, *, delimiter: str | None = None) -> CatalogImport:
    """Read a practice's code list. Only ``code`` is required; see ``CSV_COLUMNS``.

    The delimiter (comma, semicolon or tab, as spreadsheets export) is guessed unless given. Each bad
    row is reported with its line, column and reason and left out; good rows are kept, so the caller
    can show every problem at once and decide whether to import.
    """
    result = CatalogImport()
    if text.startswith("\ufeff"):
        text = text[1:]
    if delimiter is not None:
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    else:
        try:
            dialect: type[csv.Dialect] = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "code" not in header:
        result.errors.append(RowError(1, "code", "the header has no 'code' column"))
        return result
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        result.errors.append(RowError(1, unknown[0], f"unknown column; expected some of {', '.join(CSV_COLUMNS)}"))
        return result
    reader.fieldnames = header
    seen: dict[str, int] = {}
    for i, raw in enumerate(reader, start=2):
        if None in raw:  # more cells than header columns
            result.errors.append(RowError(i, "(row)", "more cells than the header has columns"))
            continue
        row: Mapping[str, str] = {k: (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue  # blank line
        errors: list[RowError] = []
        try:
            code = normalize_code(row.get("code", ""))
        except InvalidCode as exc:
            errors.append(RowError(i, "code", exc.message))
            code = ""
        if code and code in seen:
            errors.append(RowError(i, "code", f"{code} already appears on line {seen[code]}"))
        base = rule_for(code) if code else CodeRule()
        category = default_category(code) if code else ServiceCategory.DIAGNOSTIC
        if row.get("category"):
            try:
                category = ServiceCategory(row["category"].lower().replace(" ", "_"))
            except ValueError:
                errors.append(RowError(i, "category", f"{row['category']!r} is not one of "
                                       + ", ".join(c.value for c in ServiceCategory)))
        area = base.area
        if row.get("area"):
            try:
                area = Area(row["area"].lower())
            except ValueError:
                errors.append(RowError(i, "area", f"{row['area']!r} is not tooth, quadrant, arch or mouth"))
        region = base.region
        if row.get("region"):
            try:
                region = Region(row["region"].lower())
            except ValueError:
                errors.append(RowError(i, "region", f"{row['region']!r} is not one of "
                                       + ", ".join(r.value for r in Region)))
        smin = _int_cell(row.get("surfaces_min", ""), "surfaces_min", i, errors, 0, 5)
        smax = _int_cell(row.get("surfaces_max", ""), "surfaces_max", i, errors, -1, 5)
        lo = base.surfaces_min if smin is None else smin
        hi = base.surfaces_max if smax is None else smax
        if smin is not None and smax is None and base.surfaces_max not in (-1,) and base.surfaces_max < lo:
            hi = -1
        if lo > 0 and not row.get("area"):
            area = Area.TOOTH  # surfaces imply a tooth
        if hi != -1 and hi < lo:
            errors.append(RowError(i, "surfaces_max", f"{hi} is below surfaces_min {lo}"))
        fee = None
        if row.get("fee"):
            try:
                fee = Decimal(row["fee"].replace("$", "").replace(",", ""))
                if fee < 0 or not fee.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                errors.append(RowError(i, "fee", f"{row['fee']!r} is not an amount such as 125.00"))
                fee = None
        if errors:
            result.errors.extend(errors)
            continue
        seen[code] = i
        rule = CodeRule(area=area, tooth_required=base.tooth_required or (area is Area.TOOTH and lo > 0),
                        surfaces_min=lo, surfaces_max=hi, region=region, permanent_only=base.permanent_only,
                        primary_only=base.primary_only, family=base.family)
        result.entries.append(CatalogEntry(code=code, label=row.get("label") or code, category=category,
                                           rule=rule, fee=fee, abbreviation=row.get("abbreviation", "")))
    return result


def demo_catalog() -> Catalog:
    """The small demo list shipped with the app (our own short labels, not ADA descriptors)."""
    from importlib import resources

    text = resources.files("odonto_desk.domain").joinpath("cdt_demo.csv").read_text(encoding="utf-8")
    result = parse_catalog_csv(text, delimiter=",")  # ours: no need to guess (guessing is most of the read)
    if result.errors:  # a shipped file that does not parse is a bug, not user input
        raise RuntimeError("; ".join(map(str, result.errors)))
    return Catalog(result.entries)
