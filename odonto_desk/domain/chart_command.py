"""The charting command line: one typed line such as ``14 MOD comp tp`` becomes chart marks.

The grammar is in ``docs/charting-commands.md``. In short: the teeth come first (one tooth, a
range or a comma list, in the chosen numbering system); then, in any order, surfaces, what to
chart (a word or a CDT code), a material, a status and an explicit CDT code. ``A-T prim`` and
``51 super`` change the dentition instead.

This module only *reads* the line. Every clinical rule (which surfaces a tooth has, what a crown
may be made of, which statuses a condition takes, what a CDT code needs) is checked by building
the :class:`ChartMark` or by the CDT and dentition modules; an error they raise is re-raised as a
:class:`CommandError` whose ``span`` points at the word that caused it, so the UI can underline it.

Three words are both a filling and a material (``comp``, ``amal``, ``gi``). They are the filling
unless another word already says what to chart: ``14 MOD comp`` is a composite filling,
``8 F ven comp`` a composite veneer.

A veneer covers the facial surface by definition and its mark takes no surfaces, so the
facial letter typed with it (``8 F ven porc``) is read as confirming that, not stored.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from odonto_desk.domain.cdt import Catalog, check_code, normalize_code, rule_for
from odonto_desk.domain.chart import (
    FAMILY_BY_MATERIAL,
    KIND_RULES,
    ChartMark,
    MarkKind,
    MarkStatus,
    Material,
    SurfaceUse,
    kind_for_code,
)
from odonto_desk.domain.dentition import Dentition, DentitionMode
from odonto_desk.domain.errors import DomainError, InvalidTooth, from_validation_error
from odonto_desk.domain.surfaces import facial_letter, parse_surfaces, surfaces_of
from odonto_desk.domain.teeth import (
    PERMANENT_TEETH,
    PRIMARY_TEETH,
    NumberingSystem,
    Tooth,
    parse_tooth_range,
)

EXAMPLE = "14 MOD comp tp"

# Words → (kind, material the word implies). The first word listed per kind is the one
# format_command writes and complete() offers.
KIND_WORDS: Mapping[str, tuple[MarkKind, Material | None]] = {
    "comp": (MarkKind.FILLING, Material.COMPOSITE),
    "amal": (MarkKind.FILLING, Material.AMALGAM),
    "amg": (MarkKind.FILLING, Material.AMALGAM),
    "gi": (MarkKind.FILLING, Material.GLASS_IONOMER),
    "filling": (MarkKind.FILLING, None),
    "crn": (MarkKind.CROWN, None),
    "crown": (MarkKind.CROWN, None),
    "ext": (MarkKind.EXTRACTION, None),
    "extraction": (MarkKind.EXTRACTION, None),
    "rct": (MarkKind.RCT, None),
    "pc": (MarkKind.POST_CORE, None),
    "post": (MarkKind.POST_CORE, None),
    "imp": (MarkKind.IMPLANT, None),
    "implant": (MarkKind.IMPLANT, None),
    "ven": (MarkKind.VENEER, None),
    "veneer": (MarkKind.VENEER, None),
    "inlay": (MarkKind.INLAY, None),
    "onlay": (MarkKind.ONLAY, None),
    "seal": (MarkKind.SEALANT, None),
    "sealant": (MarkKind.SEALANT, None),
    "car": (MarkKind.CARIES, None),
    "caries": (MarkKind.CARIES, None),
    "mis": (MarkKind.MISSING, None),
    "missing": (MarkKind.MISSING, None),
    "impacted": (MarkKind.IMPACTED, None),
    "fx": (MarkKind.FRACTURE, None),
    "fracture": (MarkKind.FRACTURE, None),
    "pontic": (MarkKind.PONTIC, None),
    "abut": (MarkKind.ABUTMENT, None),
    "watch": (MarkKind.WATCH, None),
    "root": (MarkKind.RETAINED_ROOT, None),
    "denture": (MarkKind.DENTURE, None),
}
MATERIAL_WORDS: Mapping[str, Material] = {
    "zr": Material.ZIRCONIA,
    "zirc": Material.ZIRCONIA,
    "pfm": Material.PFM,
    "porc": Material.PORCELAIN,
    "emax": Material.PORCELAIN,
    "cer": Material.PORCELAIN,
    "gold": Material.GOLD,
    "au": Material.GOLD,
    "metal": Material.METAL,
    "ssc": Material.STAINLESS_STEEL,
    "ss": Material.STAINLESS_STEEL,
    "resin": Material.RESIN,
    "amal": Material.AMALGAM,
    "comp": Material.COMPOSITE,
    "gi": Material.GLASS_IONOMER,
    "temp": Material.TEMPORARY,
    "ti": Material.TITANIUM,
    "acr": Material.ACRYLIC,
}
STATUS_WORDS: Mapping[str, MarkStatus] = {s.value: s for s in MarkStatus}


class DentitionAction(enum.StrEnum):
    PRIMARY = "primary"
    PERMANENT = "permanent"
    MIXED = "mixed"
    SUPERNUMERARY = "supernumerary"


DENTITION_WORDS: Mapping[str, DentitionAction] = {
    "prim": DentitionAction.PRIMARY,
    "primary": DentitionAction.PRIMARY,
    "perm": DentitionAction.PERMANENT,
    "permanent": DentitionAction.PERMANENT,
    "mixed": DentitionAction.MIXED,
    "super": DentitionAction.SUPERNUMERARY,
    "sn": DentitionAction.SUPERNUMERARY,
}
_MODE_OF_ACTION = {
    DentitionAction.PRIMARY: DentitionMode.PRIMARY,
    DentitionAction.PERMANENT: DentitionMode.PERMANENT,
    DentitionAction.MIXED: DentitionMode.MIXED,
}
_SURFACE_LETTERS = frozenset("MOIDBFLV")
_CODE_RE = re.compile(r"^D?\d{4}$", re.IGNORECASE)
_SYSTEM_NAMES = {
    NumberingSystem.UNIVERSAL: "Universal",
    NumberingSystem.FDI: "FDI",
    NumberingSystem.PALMER: "Palmer",
    NumberingSystem.HADERUP: "Haderup",
}


class CommandError(DomainError):
    """A command that cannot be charted. ``span`` is the (start, end) of the offending text."""

    def __init__(self, message: str, *, span: tuple[int, int], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.span = span


@dataclass(frozen=True)
class MarkCommand:
    """Marks to add to the chart, one per tooth named."""

    marks: tuple[ChartMark, ...]


@dataclass(frozen=True)
class DentitionCommand:
    """A change to which teeth the chart shows. Empty ``teeth`` means the whole chart's mode."""

    teeth: tuple[Tooth, ...]
    action: DentitionAction

    def apply(self, dentition: Dentition) -> Dentition:
        if self.action is DentitionAction.SUPERNUMERARY:
            for t in self.teeth:
                dentition = dentition.with_supernumerary(t)
            return dentition
        if not self.teeth:
            return dentition.with_mode(_MODE_OF_ACTION[self.action])
        if self.action is DentitionAction.PRIMARY:
            return dentition.with_primary(self.teeth)
        if self.action is DentitionAction.PERMANENT:
            return dentition.with_permanent(self.teeth)
        return dentition.with_mixed(self.teeth)


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.text.lower()

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


def _tokenize(text: str) -> list[_Token]:
    return [_Token(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _is_surfaces(word: str) -> bool:
    return bool(word) and set(word.upper()) <= _SURFACE_LETTERS


# --- teeth ---------------------------------------------------------------------------------


def _parse_teeth(token: _Token, numbering: NumberingSystem) -> tuple[Tooth, ...]:
    """Read the teeth token: comma-separated teeth or ranges, each end read as one tooth first
    so that an unknown tooth is named on its own ("tooth 33 does not exist …")."""
    teeth: list[Tooth] = []
    offset = token.start
    for part in token.text.split(","):
        span = (offset, offset + len(part))
        offset += len(part) + 1
        if not part:
            raise CommandError("an empty place in the list of teeth: separate teeth with single commas",
                               span=span, field="tooth")
        for end in _range_ends(part, numbering):
            try:
                Tooth.parse(end, numbering)
            except InvalidTooth:
                raise CommandError(f"tooth {end} does not exist in {_SYSTEM_NAMES[numbering]} numbering",
                                   span=span, field="tooth") from None
        try:
            found = parse_tooth_range(part, numbering)
        except InvalidTooth as exc:
            raise CommandError(exc.message, span=span, field="tooth") from None
        teeth.extend(t for t in found if t not in teeth)
    return tuple(teeth)


def _range_ends(part: str, numbering: NumberingSystem) -> list[str]:
    """The one or two teeth a list item names, split as parse_tooth_range splits them."""
    if ".." in part:
        return part.split("..", 1)
    if numbering is not NumberingSystem.HADERUP and "-" in part.strip("-"):
        return part.split("-", 1)
    return [part]


# --- words after the teeth -----------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    """The words after the teeth, sorted into their roles."""

    kind: MarkKind
    kind_token: _Token  # the word or CDT code that says what to chart
    material: Material | None
    material_token: _Token | None
    surfaces: _Token | None
    status: _Token | None
    code: str | None
    code_token: _Token | None


def _one(tokens: list[_Token], what: str) -> _Token | None:
    if len(tokens) > 1:
        raise CommandError(f"'{tokens[0].text}' and '{tokens[1].text}' are both {what}: give one",
                           span=tokens[1].span)
    return tokens[0] if tokens else None


def _unknown(token: _Token, kind_seen: bool) -> CommandError:
    if kind_seen:
        vocabulary = [*MATERIAL_WORDS, *STATUS_WORDS]
        message = f"'{token.text}' is not a material, status, surface or CDT code"
    else:
        vocabulary = [*KIND_WORDS, *DENTITION_WORDS]
        message = f"'{token.text}' is not a procedure or condition"
    close = difflib.get_close_matches(token.word, vocabulary, n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    return CommandError(message, span=token.span)


def _role(word: str) -> str:
    """What a word after the teeth can be; ``either`` is comp / amal / gi (a filling, or a material)."""
    if word in KIND_WORDS:
        return "either" if word in MATERIAL_WORDS else "kind"
    if word in MATERIAL_WORDS:
        return "material"
    if word in STATUS_WORDS:
        return "status"
    if _CODE_RE.match(word):
        return "code"
    return "surfaces" if _is_surfaces(word) else "unknown"


def _code_of(token: _Token) -> str:
    """``2392`` and ``d2392`` both mean D2392."""
    return normalize_code(token.text if token.word.startswith("d") else "D" + token.text)


def _sort_words(tokens: list[_Token], end: int) -> _Words:
    roles: dict[str, list[_Token]] = {r: [] for r in ("kind", "either", "material", "status", "code",
                                                      "surfaces", "unknown")}
    for t in tokens:
        roles[_role(t.word)].append(t)
    kinds, either = roles["kind"], roles["either"]
    if not kinds and either:
        kinds.append(either.pop(0))
    if roles["unknown"]:
        raise _unknown(roles["unknown"][0], kind_seen=bool(kinds or roles["code"]))
    code_token = _one(roles["code"], "CDT codes")
    code = _code_of(code_token) if code_token else None
    kind_token = _one(kinds, "things to chart")
    material_token = _one(sorted(roles["material"] + either, key=lambda t: t.start), "materials")
    if kind_token is not None:
        kind, implied = KIND_WORDS[kind_token.word]
        if code_token is not None and code is not None:
            _check_code_fits(code, code_token, kind, implied or _material_of(material_token))
    elif code_token is not None and code is not None:
        kind_token = code_token
        kind, implied = _kind_of_code(code, code_token)
    else:
        raise CommandError(f"say what to chart after the teeth, e.g. '{EXAMPLE}'", span=(end, end))
    material = _merge_material(implied, kind_token, material_token)
    return _Words(kind, kind_token, material, material_token, _one(roles["surfaces"], "surfaces"),
                  _one(roles["status"], "statuses"), code, code_token)


def _material_of(token: _Token | None) -> Material | None:
    return MATERIAL_WORDS[token.word] if token is not None else None


def _kind_of_code(code: str, token: _Token) -> tuple[MarkKind, Material | None]:
    found = kind_for_code(code)
    if found is None:
        raise CommandError(f"{code} is not drawn on the tooth chart: say what to chart, e.g. 'crn' or 'comp'",
                           span=token.span, field="code")
    return found


def _check_code_fits(code: str, token: _Token, kind: MarkKind, material: Material | None) -> None:
    """An explicit code must chart as the same kind, and for fillings, inlays and onlays (whose codes
    name the material) as the same material family: ``14 MOD comp D2160`` is a typo, not a choice."""
    found = kind_for_code(code)
    if found is None:
        return
    code_kind, code_material = found
    family = FAMILY_BY_MATERIAL.get((kind, material)) if material else None
    if code_kind is kind and (family is None or family == rule_for(code).family):
        return
    said = f"{material.value} {kind.value}" if material else kind.value
    meant = f"{code_material.value} {code_kind.value}" if code_material else code_kind.value
    raise CommandError(f"{code} charts as {meant}, not as {said}", span=token.span, field="code")


def _merge_material(implied: Material | None, kind_token: _Token, token: _Token | None) -> Material | None:
    explicit = _material_of(token)
    if implied is None or explicit is None or explicit is implied:
        return explicit or implied
    assert token is not None
    raise CommandError(f"'{kind_token.text}' already says {implied.value}; '{token.text}' says "
                       f"{explicit.value}: give one", span=token.span, field="material")


# --- building marks ------------------------------------------------------------------------


def _span_for(field: str | None, words: _Words, teeth_token: _Token, whole: tuple[int, int]) -> tuple[int, int]:
    """Which word an error about ``field`` should underline."""
    last = (field or "").rsplit(".", 1)[-1]
    chosen: dict[str, _Token | None] = {
        "tooth": teeth_token,
        "surfaces": words.surfaces or words.code_token or words.kind_token,
        "status": words.status or words.kind_token,
        "kind": words.kind_token,
        "material": words.material_token or words.kind_token,
        "code": words.code_token or words.kind_token,
    }
    token = chosen.get(last)
    return token.span if token is not None else whole


def _build(fields: dict[str, object]) -> ChartMark:
    try:
        return ChartMark(**fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _mark_for(tooth: Tooth, words: _Words, *, patient: str | None, catalog: Catalog | None,
              today: dt.date | None) -> ChartMark:
    surfaces = parse_surfaces(words.surfaces.text, tooth) if words.surfaces else frozenset()
    if words.kind is MarkKind.VENEER and surfaces == {facial_letter(tooth)}:
        surfaces = frozenset()  # "8 F ven": a veneer *is* facial; the mark and its codes carry no surfaces
    status = (MarkStatus(words.status.word) if words.status
              else MarkStatus.CONDITION if KIND_RULES[words.kind].condition else MarkStatus.TREATMENT_PLANNED)
    fields: dict[str, object] = {"patient": patient, "tooth": tooth, "kind": words.kind, "status": status,
                                 "surfaces": surfaces, "material": words.material, "date": today}
    if words.code is not None:
        _check_in_catalog(words.code, catalog)
        (catalog.check if catalog else check_code)(words.code, tooth, surfaces)
        return _build({**fields, "code": words.code})
    mark = _build(fields)
    suggested = mark.suggested_code()
    if suggested is None or (catalog is not None and suggested not in catalog):
        return mark
    return _build({**fields, "code": suggested})


def _check_in_catalog(code: str, catalog: Catalog | None) -> None:
    if catalog is not None and code not in catalog:
        raise DomainError(f"{code} is not in the practice's procedure code list", field="code")


# --- the entry points ----------------------------------------------------------------------


def parse_command(text: str, *, numbering: NumberingSystem | str = NumberingSystem.UNIVERSAL,
                  patient: str | None = None, catalog: Catalog | None = None,
                  today: dt.date | None = None) -> MarkCommand | DentitionCommand:
    """Read one command line; raise :class:`CommandError` pointing at the word that is wrong."""
    system = NumberingSystem(numbering)
    tokens = _tokenize(text)
    whole = (tokens[0].start, tokens[-1].end) if tokens else (0, len(text))
    if not tokens:
        raise CommandError(f"type the teeth and what to chart, e.g. '{EXAMPLE}'", span=whole)
    if len(tokens) == 1 and DENTITION_WORDS.get(tokens[0].word) in _MODE_OF_ACTION:
        return DentitionCommand((), DENTITION_WORDS[tokens[0].word])
    teeth_token, rest = tokens[0], tokens[1:]
    teeth = _parse_teeth(teeth_token, system)
    if not rest:
        shown = teeth_token.text
        raise CommandError(f"nothing to chart on {shown}: add what to chart, e.g. '{shown} MOD comp tp' "
                           f"or '{shown} crn zr c'", span=(len(text.rstrip()), len(text.rstrip())))
    dentition = [t for t in rest if t.word in DENTITION_WORDS]
    if dentition:
        return _dentition_command(teeth, teeth_token, dentition[0], rest)
    words = _sort_words(rest, len(text.rstrip()))
    marks = []
    for tooth in teeth:
        try:
            marks.append(_mark_for(tooth, words, patient=patient, catalog=catalog, today=today))
        except DomainError as exc:
            prefix = f"tooth {tooth.format(system)}: " if len(teeth) > 1 else ""
            raise CommandError(prefix + exc.message, span=_span_for(exc.field, words, teeth_token, whole),
                               field=exc.field) from None
    return MarkCommand(tuple(marks))


def _dentition_command(teeth: tuple[Tooth, ...], teeth_token: _Token, word: _Token,
                       rest: list[_Token]) -> DentitionCommand:
    extra = next((t for t in rest if t is not word), None)
    if extra is not None:
        raise CommandError(f"'{word.text}' changes which teeth the chart shows and takes nothing else; "
                           f"remove '{extra.text}'", span=extra.span)
    action = DENTITION_WORDS[word.word]
    if action is DentitionAction.SUPERNUMERARY:
        teeth = tuple(t.supernumerary for t in teeth)  # "3 sn": the extra tooth beside 3
    command = DentitionCommand(teeth, action)
    try:
        command.apply(Dentition())  # the dentition's own rules refuse e.g. "1 prim"
    except DomainError as exc:
        raise CommandError(exc.message, span=teeth_token.span, field="tooth") from None
    return command


def format_command(mark: ChartMark, numbering: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> str:
    """The command that charts ``mark`` (without its id, date, patient, provider or note)."""
    parts = [mark.tooth.format(numbering)]
    if mark.surfaces:
        parts.append(mark.surface_string)
    parts.extend(_what_words(mark.kind, mark.material))
    parts.append(mark.status.value)
    if mark.code:
        parts.append(mark.code)
    return " ".join(parts)


def _what_words(kind: MarkKind, material: Material | None) -> list[str]:
    for word, (k, implied) in KIND_WORDS.items():
        if k is kind and implied is not None and implied is material:
            return [word]
    word = _first_word(kind)
    return [word, _MATERIAL_WORD[material]] if material else [word]


def _first_word(kind: MarkKind) -> str:
    return next(w for w, (k, implied) in KIND_WORDS.items() if k is kind and implied is None)


# The first word listed per material: the one format_command writes and complete() offers.
_MATERIAL_WORD: dict[Material, str] = {
    m: next(w for w, x in MATERIAL_WORDS.items() if x is m) for m in dict.fromkeys(MATERIAL_WORDS.values())
}


# --- completion ----------------------------------------------------------------------------


def complete(text: str, *, numbering: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> list[str]:
    """Suggestions for the word being typed (or the next one, after a space), for the UI's completer."""
    system = NumberingSystem(numbering)
    tokens = _tokenize(text)
    typing = tokens.pop() if tokens and not text[-1:].isspace() else None
    prefix = typing.word if typing else ""
    if not tokens:
        options: Iterable[str] = [*(t.format(system) for t in (*PERMANENT_TEETH, *PRIMARY_TEETH)),
                                  "prim", "perm", "mixed"]
        return _matching(options, prefix)
    try:
        tooth = _parse_teeth(tokens[0], system)[0]
    except CommandError:
        return []
    return _matching(_next_words(tooth, tokens[1:], typing), prefix)


def _matching(options: Iterable[str], prefix: str) -> list[str]:
    return [o for o in dict.fromkeys(options) if o.lower().startswith(prefix)]


def _next_words(tooth: Tooth, done: list[_Token], typing: _Token | None) -> Iterator[str]:
    try:
        words: _Words | None = _sort_words(done, 0) if done else None
    except CommandError:
        words = None
    rule = KIND_RULES[words.kind] if words else None
    if typing is not None and _is_surfaces(typing.word) and not (words and words.surfaces):
        yield from (typing.text.upper() + s.value for s in surfaces_of(tooth) if s.value not in typing.text.upper())
    if not (words and words.surfaces) and (rule is None or rule.surfaces is not SurfaceUse.NONE):
        yield from (s.value for s in surfaces_of(tooth))
    if words is None or rule is None:
        yield from (_first_word(k) for k in MarkKind)
        yield from ("comp", "amal", "gi")
        if not done:
            yield from ("prim", "perm", "mixed", "super")
        return
    if words.material is None:
        yield from (w for m, w in _MATERIAL_WORD.items() if m in rule.materials)
    if words.status is None:
        yield from ([MarkStatus.CONDITION.value] if rule.condition
                    else [s.value for s in MarkStatus if s is not MarkStatus.CONDITION])
