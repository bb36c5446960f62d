"""The odontogram's tooth drawings honour the contract the UI relies on.

The UI renders each ``surface-*`` element alone into an alpha mask for hit-testing and tinting,
mirrors right-side drawings for the left side, and draws root canals from ``canal-N``; so ids,
orientation and the tiling of the crown by its surface regions are checked on the real renderer.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "teeth_svg"
SVG_NS = "{http://www.w3.org/2000/svg}"
ANTERIOR = {"central", "lateral", "canine"}
KINDS = {
    "perm": ("central", "lateral", "canine", "premolar1", "premolar2", "molar1", "molar2", "molar3"),
    "prim": ("central", "lateral", "canine", "molar1", "molar2"),
}
EXPECTED = sorted(
    f"{dentition}-{arch}-{kind}-{view}.svg"
    for dentition, kinds in KINDS.items()
    for arch in ("upper", "lower")
    for kind in kinds
    for view in ("facial", "occlusal")
)
FACIAL = [name for name in EXPECTED if name.endswith("-facial.svg")]
OCCLUSAL = [name for name in EXPECTED if name.endswith("-occlusal.svg")]
IVORY, ROOT, CANAL = "#FBF8F0", "#F1E9D6", "#D9CBB0"


def parts(name: str) -> tuple[str, str, str, str]:
    dentition, arch, kind, view = name.removesuffix(".svg").split("-")
    return dentition, arch, kind, view


def expected_roots(name: str) -> int:
    """Upper molars 3, lower molars 2, the upper first premolar 2 (buccal and palatal), others 1."""
    _, arch, kind, _ = parts(name)
    if kind.startswith("molar"):
        return 3 if arch == "upper" else 2
    return 2 if (arch, kind) == ("upper", "premolar1") else 1


def expected_ids(name: str) -> set[str]:
    _, _, kind, view = parts(name)
    anterior = kind in ANTERIOR
    if view == "facial":
        n = expected_roots(name)
        tip = {"surface-I", "surface-F"} if anterior else {"surface-O", "surface-B"}
        return ({"crown", "surface-M", "surface-D", "surface-V"} | tip
                | {f"root-{k}" for k in range(1, n + 1)} | {f"canal-{k}" for k in range(1, n + 1)})
    centre = {"surface-I", "surface-F"} if anterior else {"surface-O", "surface-B"}
    return {"outline", "surface-M", "surface-D", "surface-L"} | centre


def surfaces(name: str) -> list[str]:
    return sorted(i for i in expected_ids(name) if i.startswith("surface-"))


def facial_id(name: str) -> str:
    return "surface-F" if parts(name)[2] in ANTERIOR else "surface-B"


def elements(name: str) -> dict[str, ET.Element]:
    root = ET.parse(ASSETS / name).getroot()
    return {el.get("id"): el for el in root.iter() if el.get("id")}


def centre(renderer: QSvgRenderer, element_id: str) -> tuple[float, float]:
    c = renderer.boundsOnElement(element_id).center()
    return c.x(), c.y()


def mask(renderer: QSvgRenderer, element_ids: list[str], size: tuple[int, int]) -> np.ndarray:
    """Alpha ≥ 50% of the given elements rendered the way the UI renders them (each at its bounds)."""
    image = QImage(*size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for element_id in element_ids:
        renderer.render(painter, element_id, renderer.boundsOnElement(element_id))
    painter.end()
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(size[1], image.bytesPerLine() // 4, 4)
    return pixels[:, : size[0], 3] >= 128  # ARGB32 is BGRA in memory on little-endian machines


@pytest.fixture
def load(qapp):
    def _load(name: str) -> QSvgRenderer:
        renderer = QSvgRenderer(str(ASSETS / name))
        assert renderer.isValid(), name
        return renderer

    return _load


def test_exactly_the_expected_files_exist():
    assert len(EXPECTED) == 52
    assert sorted(p.name for p in ASSETS.glob("*.svg")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_loads_with_the_right_viewbox_and_size(load, name):
    renderer = load(name)
    height = 200 if name.endswith("-facial.svg") else 100
    assert renderer.viewBoxF() == QRectF(0, 0, 100, height)
    root = ET.parse(ASSETS / name).getroot()
    assert (root.get("width"), root.get("height")) == ("100", str(height))


@pytest.mark.parametrize("name", EXPECTED)
def test_has_exactly_the_contract_ids_each_non_empty_inside_the_viewbox(load, name):
    renderer = load(name)
    ids = set(elements(name))
    assert ids == expected_ids(name)
    for element_id in ids:
        assert renderer.elementExists(element_id), element_id
        bounds = renderer.boundsOnElement(element_id)
        assert not bounds.isEmpty(), element_id
        assert renderer.viewBoxF().contains(bounds), (element_id, bounds)
    assert not renderer.elementExists("surface-X")


@pytest.mark.parametrize("name", EXPECTED)
def test_plain_presentation_attributes_and_opaque_fills(name):
    text = (ASSETS / name).read_text(encoding="utf-8")
    for forbidden in ("<text", "<script", "<style", "class=", "href", "clipPath", "<mask", "<filter", "marker"):
        assert forbidden not in text, forbidden
    for element_id, element in elements(name).items():
        fill = {"root": ROOT, "canal": CANAL}.get(element_id.split("-")[0], IVORY)
        assert element.get("fill") == fill, element_id
        assert element.get("opacity") is None and element.get("fill-opacity") is None
        assert (element.get("stroke") is None) == element_id.startswith("canal-"), element_id


@pytest.mark.parametrize("name", EXPECTED)
def test_mesial_is_drawn_right_of_distal(load, name):
    renderer = load(name)
    assert centre(renderer, "surface-M")[0] > centre(renderer, "surface-D")[0] + 10


@pytest.mark.parametrize("name", OCCLUSAL)
def test_occlusal_facial_side_is_up_for_upper_and_down_for_lower(load, name):
    renderer = load(name)
    facial_y, lingual_y = centre(renderer, facial_id(name))[1], centre(renderer, "surface-L")[1]
    if parts(name)[1] == "upper":
        assert facial_y < lingual_y
    else:
        assert facial_y > lingual_y


@pytest.mark.parametrize("name", FACIAL)
def test_facial_roots_point_up_for_upper_and_down_for_lower(load, name):
    renderer = load(name)
    roots = QRectF()
    for k in range(1, expected_roots(name) + 1):
        roots = roots.united(renderer.boundsOnElement(f"root-{k}"))
    crown = renderer.boundsOnElement("crown")
    cervical = renderer.boundsOnElement("surface-V").center().y()
    tip = renderer.boundsOnElement("surface-I" if parts(name)[2] in ANTERIOR else "surface-O").center().y()
    if parts(name)[1] == "upper":
        assert crown.center().y() > roots.center().y() and crown.top() > 100 and tip > cervical
    else:
        assert crown.center().y() < roots.center().y() and crown.bottom() < 100 and tip < cervical


@pytest.mark.parametrize("name", FACIAL)
def test_each_canal_runs_inside_its_root(load, name):
    renderer = load(name)
    for k in range(1, expected_roots(name) + 1):
        root, canal = mask(renderer, [f"root-{k}"], (100, 200)), mask(renderer, [f"canal-{k}"], (100, 200))
        assert (canal & ~root).sum() == 0, k
        assert 0.03 * root.sum() < canal.sum() < 0.3 * root.sum(), k
        root_box, canal_box = renderer.boundsOnElement(f"root-{k}"), renderer.boundsOnElement(f"canal-{k}")
        assert canal_box.height() > 0.8 * root_box.height(), k  # runs (nearly) the root's whole length


@pytest.mark.parametrize("name", EXPECTED)
def test_surface_regions_tile_the_crown(load, name):
    renderer = load(name)
    size = (100, 200) if name.endswith("-facial.svg") else (100, 100)
    whole = mask(renderer, ["crown" if size[1] == 200 else "outline"], size)
    union = mask(renderer, surfaces(name), size)
    assert (whole & union).sum() >= 0.97 * whole.sum()
    assert (union & ~whole).sum() < 0.02 * union.sum()
    for region in surfaces(name):  # every region is big enough to click
        assert mask(renderer, [region], size).sum() >= 0.02 * whole.sum(), region


def test_primary_teeth_are_smaller_with_shorter_roots(load):
    for arch in ("upper", "lower"):
        for kind in ("central", "lateral", "canine"):
            perm, prim = load(f"perm-{arch}-{kind}-facial.svg"), load(f"prim-{arch}-{kind}-facial.svg")
            ratio = prim.boundsOnElement("crown").width() / perm.boundsOnElement("crown").width()
            assert 0.7 < ratio < 0.9, (arch, kind, ratio)
            assert prim.boundsOnElement("root-1").height() < 0.85 * perm.boundsOnElement("root-1").height()


@pytest.mark.parametrize(
    ("kinds", "low", "high"),
    [(("molar1", "molar2", "molar3"), 83, 94), (("premolar1", "premolar2"), 63, 71), (("canine",), 56, 63)],
)
def test_permanent_crown_widths_follow_the_tooth_type(load, kinds, low, high):
    for arch in ("upper", "lower"):
        for kind in kinds:
            width = load(f"perm-{arch}-{kind}-facial.svg").boundsOnElement("crown").width()
            assert low <= width <= high, (arch, kind, width)


def test_incisor_widths_differ_by_type(load):
    def width(name: str) -> float:
        return load(f"perm-{name}-facial.svg").boundsOnElement("crown").width()

    assert 66 <= width("upper-central") <= 74 and 55 <= width("upper-lateral") <= 61
    assert all(46 <= width(f"lower-{kind}") <= 55 for kind in ("central", "lateral"))


def test_generator_is_deterministic_and_matches_the_committed_files(tmp_path):
    subprocess.run([sys.executable, str(ASSETS / "generate.py"), str(tmp_path)], check=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == EXPECTED
    for name in EXPECTED:
        assert (tmp_path / name).read_bytes() == (ASSETS / name).read_bytes(), name
