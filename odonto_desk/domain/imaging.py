"""Dental images: DICOM study metadata, non-DICOM image documents, and their bytes.

* :class:`ImagingStudyMeta` is what a DICOM study says about itself (UIDs, modality, series,
  instances) plus the teeth each series shows. Pixels never live here.
* :class:`ImageDocument` describes one stored file (a sensor JPEG, a photo, a scan, a PDF).
* :class:`BinaryBlob` is the file's bytes.

DICOM UIDs are checked as DICOM defines them (PS3.5 §9.1): dot-separated decimal components
without leading zeros, at most 64 characters. A malformed UID cannot be looked up in a PACS,
so it is refused here rather than sent on.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from odonto_desk.domain.cdt import normalize_code
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import DomainModel, ZonedDateTime, new_id
from odonto_desk.domain.teeth import NumberingSystem, Tooth

if TYPE_CHECKING:  # numpy is imported only when pixels are shown, not when the domain loads
    import numpy as np
    from numpy.typing import NDArray

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_MIME_RE = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.+\-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_uid(value: str, field: str | None = None) -> str:
    """A DICOM UID (``1.2.840.10008.5.1.4.1.1.1.3``), or :class:`DomainError` saying why not.

    Inside a model the error takes the model field's path, so ``field`` is only for callers
    checking a bare value."""
    v = str(value).strip()
    if v.startswith("urn:oid:"):
        v = v[len("urn:oid:"):]
    if len(v) > 64:
        raise DomainError(f"a DICOM UID has at most 64 characters; {v[:20]}… has {len(v)}", field=field)
    if not _UID_RE.match(v):
        raise DomainError(f"{value!r} is not a DICOM UID: digits in dot-separated parts, no leading zeros",
                          field=field)
    return v


Uid = Annotated[str, AfterValidator(check_uid)]


class Modality(enum.StrEnum):
    """DICOM modality codes (CID 29) used in a dental practice."""

    IO = "IO"  # intra-oral radiography
    PX = "PX"  # panoramic
    CT = "CT"  # CBCT: DICOM has no separate cone-beam modality
    XC = "XC"  # external-camera photography

    @property
    def display(self) -> str:
        return {Modality.IO: "Intra-oral Radiography", Modality.PX: "Panoramic X-Ray",
                Modality.CT: "Computed Tomography", Modality.XC: "External-camera Photography"}[self]


class Projection(enum.StrEnum):
    BITEWING = "bitewing"
    PERIAPICAL = "periapical"
    OCCLUSAL = "occlusal"
    FULL_MOUTH = "full-mouth"
    PANORAMIC = "panoramic"
    CEPHALOMETRIC = "cephalometric"
    CBCT = "cbct"
    PHOTO = "photo"


# CDT image codes → the projection they take (code numbers only; see domain/cdt.py on licensing).
_PROJECTION_BY_CODE: list[tuple[int, int, Projection]] = [
    (210, 210, Projection.FULL_MOUTH),
    (220, 230, Projection.PERIAPICAL),
    (240, 240, Projection.OCCLUSAL),
    (270, 277, Projection.BITEWING),
    (330, 330, Projection.PANORAMIC),
    (340, 340, Projection.CEPHALOMETRIC),
    (350, 351, Projection.PHOTO),
    (364, 368, Projection.CBCT),
]


def projection_for_code(code: str) -> Projection | None:
    """What a CDT imaging code takes (D0272 → bitewing); None for codes that are not images."""
    n = int(normalize_code(code)[1:])
    return next((p for lo, hi, p in _PROJECTION_BY_CODE if lo <= n <= hi), None)


class Laterality(enum.StrEnum):
    RIGHT = "right"
    LEFT = "left"
    BILATERAL = "bilateral"


def _unique_teeth(v: tuple[Tooth, ...]) -> tuple[Tooth, ...]:
    if len(set(v)) != len(v):
        raise DomainError("a tooth is listed twice")
    return tuple(sorted(v))


class Instance(DomainModel):
    uid: Uid
    sop_class: Uid
    number: int | None = Field(default=None, ge=0)
    title: str | None = None


class Series(DomainModel):
    uid: Uid
    number: int | None = Field(default=None, ge=0)
    description: str | None = None
    laterality: Laterality | None = None
    teeth: tuple[Tooth, ...] = ()
    instances: tuple[Instance, ...] = ()

    @field_validator("teeth")
    @classmethod
    def _teeth(cls, v: tuple[Tooth, ...]) -> tuple[Tooth, ...]:
        return _unique_teeth(v)


class StudyStatus(enum.StrEnum):
    REGISTERED = "registered"
    AVAILABLE = "available"
    CANCELLED = "cancelled"


class ImagingStudyMeta(DomainModel):
    """A DICOM study: radiographs, a CBCT volume, or DICOM photos."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    study_uid: Uid
    modality: Modality
    started: ZonedDateTime | None = None
    description: str | None = None
    code: str | None = None  # CDT code of the imaging procedure (D0272)
    projection: Projection | None = None
    referrer: str | None = None  # Practitioner id
    status: StudyStatus = StudyStatus.AVAILABLE
    series: tuple[Series, ...] = ()

    @field_validator("code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return None if v is None else normalize_code(v)

    @model_validator(mode="after")
    def _unique_uids(self) -> ImagingStudyMeta:
        seen = {self.study_uid}
        for si, s in enumerate(self.series):
            for uid, field in [(s.uid, f"series[{si}].uid"),
                               *((i.uid, f"series[{si}].instances[{ii}].uid") for ii, i in enumerate(s.instances))]:
                if uid in seen:
                    raise DomainError(f"UID {uid} is used twice in the study", field=field)
                seen.add(uid)
        return self

    @property
    def teeth(self) -> tuple[Tooth, ...]:
        """Every tooth some series shows."""
        return tuple(sorted({t for s in self.series for t in s.teeth}))

    @property
    def number_of_instances(self) -> int:
        return sum(len(s.instances) for s in self.series)


def check_content_type(value: str) -> str:
    v = value.strip().lower()
    if not _MIME_RE.match(v):
        raise DomainError(f"{value!r} is not a media type such as image/jpeg", field="content_type")
    return v


class ImageDocument(DomainModel):
    """One stored image file (not DICOM, or a DICOM file kept as a document) and where its bytes are."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    content_type: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None  # hex; None when the server only gives the SHA-1 of Attachment.hash
    sha1: str | None = None  # base64, as FHIR Attachment.hash carries it
    title: str | None = None
    binary: str | None = None  # Binary id holding the bytes
    url: str | None = None  # where the bytes are, when not in a Binary
    study: str | None = None  # ImagingStudy id
    teeth: tuple[Tooth, ...] = ()
    created: ZonedDateTime | None = None

    @field_validator("teeth")
    @classmethod
    def _teeth(cls, v: tuple[Tooth, ...]) -> tuple[Tooth, ...]:
        return _unique_teeth(v)

    @field_validator("content_type")
    @classmethod
    def _ct(cls, v: str) -> str:
        return check_content_type(v)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().lower()
        if not _SHA256_RE.match(v):
            raise DomainError("a SHA-256 is 64 hexadecimal digits", field="sha256")
        return v

    @field_validator("sha1")
    @classmethod
    def _sha1(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 20:
            raise DomainError("a SHA-1 hash is 20 bytes, base64-encoded", field="sha1")
        return v

    @model_validator(mode="after")
    def _located(self) -> ImageDocument:
        if self.binary is not None and self.url is not None:
            raise DomainError("the bytes are in a Binary or at a URL, not both", field="url")
        return self

    @classmethod
    def for_blob(cls, blob: BinaryBlob, *, patient: str, **fields: Any) -> ImageDocument:
        """The document describing ``blob``: type, size and both hashes computed from the bytes."""
        return cls(patient=patient, content_type=blob.content_type, size=blob.size, sha256=blob.sha256,
                   sha1=blob.sha1, binary=blob.id, **fields)


class BinaryBlob(DomainModel):
    """The bytes of one file."""

    id: str = Field(default_factory=new_id)
    content_type: str
    data: bytes
    patient: str | None = None  # whose file it is: access to the bytes follows the patient

    @field_validator("content_type")
    @classmethod
    def _ct(cls, v: str) -> str:
        return check_content_type(v)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha1(self) -> str:
        return base64.b64encode(hashlib.sha1(self.data).digest()).decode()  # FHIR Attachment.hash is SHA-1


# --- importing and viewing ------------------------------------------------------------------------
# What the Imaging tab needs before any server sees a file: which kind of file it is (by its own
# bytes, since a name can lie), the teeth it is tagged with, and the window/level that turns stored
# pixel values (often 12 or 16 bit) into the 256 grey levels a screen shows.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC close every complete PNG
_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
SNIFF_HEAD = 132  # a DICOM file has a 128-byte preamble, then "DICM"
SNIFF_TAIL = 16


class ImageFormat(enum.StrEnum):
    """The files the Imaging tab imports, by media type."""

    DICOM = "application/dicom"
    PNG = "image/png"
    JPEG = "image/jpeg"

    @property
    def extension(self) -> str:
        return {ImageFormat.DICOM: ".dcm", ImageFormat.PNG: ".png", ImageFormat.JPEG: ".jpg"}[self]


def sniff_format(head: bytes, tail: bytes, size: int) -> ImageFormat:
    """The file's format from its first :data:`SNIFF_HEAD` and last :data:`SNIFF_TAIL` bytes.

    A PNG or JPEG cut short (a copy interrupted, a card pulled out) lacks its end marker and is
    refused here, before it is spooled or sent; a DICOM file's completeness is checked when its
    pixels are decoded."""
    if size == 0:
        raise DomainError("the file is empty", field="file")
    if head.startswith(PNG_SIGNATURE):
        if not tail.endswith(_PNG_END):
            raise DomainError("the PNG file is incomplete (it has no end marker): copy it again", field="file")
        return ImageFormat.PNG
    if head.startswith(_JPEG_START):
        if _JPEG_END not in tail.rstrip(b"\x00"):
            raise DomainError("the JPEG file is incomplete (it has no end marker): copy it again", field="file")
        return ImageFormat.JPEG
    if len(head) >= SNIFF_HEAD and head[128:132] == b"DICM":
        return ImageFormat.DICOM
    raise DomainError("the file is not a PNG, JPEG or DICOM image", field="file")


def parse_teeth(text: str, system: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> tuple[Tooth, ...]:
    """Teeth typed as ``"30, 31"``, ``"2-5 14"`` or FDI ``"46 47"``: sorted, each once."""
    from odonto_desk.domain.teeth import parse_tooth_range

    found: set[Tooth] = set()
    for part in re.split(r"[,;\s]+", text.strip()):
        if part:
            found.update(parse_tooth_range(part, system))
    return tuple(sorted(found))


@dataclass(frozen=True)
class Window:
    """A linear VOI window (DICOM PS3.3 C.11.2.1.2): ``center`` ± ``width``/2 spans black to white."""

    center: float
    width: float

    def __post_init__(self) -> None:
        if not self.width >= 1:
            raise DomainError(f"the window width is at least 1, not {self.width}", field="width")

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


def apply_window(pixels: NDArray[Any], window: Window, *, invert: bool = False) -> NDArray[np.uint8]:
    """Stored values → 0..255 grey by DICOM's linear function; below the window is black, above white.

    ``invert`` is for MONOCHROME1 images, whose lowest value is white."""
    import numpy as np

    c, w = window.center - 0.5, window.width - 1
    values = np.asarray(pixels, dtype=np.float32)
    out = np.where(values > c, 255.0, 0.0) if w <= 0 else ((values - c) / w + 0.5) * 255.0  # width 1: a threshold
    grey = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return 255 - grey if invert else grey


def auto_window(pixels: NDArray[Any]) -> Window:
    """A window from the 0.5th to the 99.5th percentile: a few hot or dead pixels do not wash it out."""
    import numpy as np

    values = np.asarray(pixels)
    if values.size == 0:
        return Window(128, 256)
    lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    return Window((lo + hi) / 2, max(1.0, hi - lo))
