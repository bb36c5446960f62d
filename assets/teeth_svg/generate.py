#!/usr/bin/env python3
"""Write the odontogram's tooth drawings: one SVG per (dentition, arch, tooth type, view).

Usage: ``python assets/teeth_svg/generate.py [OUTPUT_DIR]`` (default: this script's folder).

Every tooth is built in one canonical frame (upper tooth, patient's right side, mesial to the
right) from a few numbers per type, then flipped vertically for the lower arch. Outlines are
closed spline curves sampled into polygons, so the surface regions can be cut from the very same
points as the crown: the regions share vertices with the outline and with each other and tile it
exactly, which the UI relies on when it turns each region into a click/tint mask. The output is a
pure function of the tables below, so a rerun rewrites the files byte for byte.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Point = tuple[float, float]

IVORY, ROOT_FILL, CANAL_FILL, LINE, GROOVE = "#FBF8F0", "#F1E9D6", "#D9CBB0", "#6B6B6B", "#A49C8A"
CERVICAL_Y = 115.0  # canonical cervical line of the facial view (crown below, roots above)
SAMPLES = 12  # points per spline segment; anchor i of an outline sits at index i * SAMPLES
INNER_SAMPLES = 64  # points on the inner (centre-region) curve; its corners sit at 0, 16, 32, 48


@dataclass(frozen=True)
class Anchor:
    """A point the outline passes through; tension 0 makes a corner, 1 a smooth curve."""

    x: float
    y: float
    tension: float = 1.0


@dataclass(frozen=True)
class Root:
    """One root in fractions of the crown width (x from the crown centre) and drawing units."""

    base: float  # centre of the root at the cervical line
    half: float  # half-width at the cervical line
    apex: float  # apex x
    length: float  # cervical line to apex
    bend: float = 0.0  # sideways pull of the middle of the root (curved roots)
    behind: bool = False  # palatal/lingual root seen through the buccal ones: drawn first


@dataclass(frozen=True)
class Facial:
    """Crown silhouette seen from the facial side, in fractions of crown width and height."""

    neck: float  # cervical width / crown width
    contour: tuple[float, float]  # depth of the widest point, distal and mesial
    corners: tuple[Anchor, Anchor]  # distal and mesial end of the incisal/occlusal edge
    edge: tuple[Anchor, ...]  # points of the incisal/occlusal edge, distal to mesial
    cej: float = 0.04  # how far the cervical line arches toward the root


@dataclass(frozen=True)
class Occlusal:
    """Outline seen from the occlusal side; corners are distobuccal, distolingual, mesiolingual,
    mesiobuccal, as fractions of (width, depth) from the centre, buccal side up."""

    corners: tuple[Point, Point, Point, Point]
    arcs: tuple[float, float, float, float]  # outward bow of the distal, lingual, mesial, buccal edge
    inner: tuple[float, float, float, float, float]  # centre dx, dy, half-width, half-height, squareness
    grooves: tuple[tuple[Point, ...], ...] = ()
    bumps: tuple[tuple[Anchor, ...], ...] = ()  # per edge: (t, extra bulge, tension), e.g. cusps
    rounding: float = 0.22  # how far along each edge a corner's curve begins


@dataclass(frozen=True)
class Tooth:
    """Everything needed to draw one tooth type in both views."""

    dentition: str
    arch: str
    kind: str
    width: float
    height: float  # crown height, facial view
    depth: float  # buccolingual size, occlusal view
    facial: Facial
    occlusal: Occlusal
    roots: tuple[Root, ...]
    inner: tuple[float, float, float, float]  # facial B/F region: centre dx, centre y, half-width, half-height

    @property
    def anterior(self) -> bool:
        return self.kind in {"central", "lateral", "canine"}

    @property
    def stem(self) -> str:
        return f"{self.dentition}-{self.arch}-{self.kind}"


# --- geometry -----------------------------------------------------------------------------------


def cubic(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    u = 1.0 - t
    return (
        u * u * u * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * p3[0],
        u * u * u * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * p3[1],
    )


def handle(a: Anchor, b: Anchor, c: Anchor, dab: float, dbc: float, scale: float) -> Point:
    """Bezier control point leaving b toward c, from the non-uniform Catmull-Rom tangent at b."""
    return tuple(  # type: ignore[return-value]
        vb + scale * ((vb - va) / dab - (vc - va) / (dab + dbc) + (vc - vb) / dbc)
        for va, vb, vc in ((a.x, b.x, c.x), (a.y, b.y, c.y))
    )


def spline(anchors: Sequence[Anchor]) -> list[Point]:
    """Closed centripetal Catmull-Rom curve through the anchors, sampled evenly per segment.

    Centripetal knots keep unevenly spaced anchors (a cusp bump next to a rounded corner) from
    overshooting into loops.
    """
    n = len(anchors)
    points: list[Point] = []
    for i in range(n):
        p0, p1, p2, p3 = anchors[i - 1], anchors[i], anchors[(i + 1) % n], anchors[(i + 2) % n]
        d0, d1, d2 = (max(1e-6, math.hypot(b.x - a.x, b.y - a.y) ** 0.5) for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        c1 = handle(p0, p1, p2, d0, d1, p1.tension * d1 / 3)
        c2 = handle(p3, p2, p1, d2, d1, p2.tension * d1 / 3)
        points.extend(cubic((p1.x, p1.y), c1, c2, (p2.x, p2.y), k / SAMPLES) for k in range(SAMPLES))
    return points


def superellipse(cx: float, cy: float, a: float, b: float, n: float) -> list[Point]:
    """Rounded-rectangle curve run in the outline's direction, starting at its top-left corner."""
    points = []
    for k in range(INNER_SAMPLES):
        phi = math.radians(135 + 360 * k / INNER_SAMPLES)
        c, s = math.cos(phi), math.sin(phi)
        points.append((cx + a * math.copysign(abs(c) ** (2 / n), c), cy - b * math.copysign(abs(s) ** (2 / n), s)))
    return points


def chain(points: Sequence[Point], start: int, end: int) -> list[Point]:
    """Points from start to end inclusive, walking forward around a closed polygon."""
    if end >= start:
        return list(points[start : end + 1])
    return list(points[start:]) + list(points[: end + 1])


def regions(outline: Sequence[Point], corners: Sequence[int], inner: Sequence[Point]) -> dict[str, list[Point]]:
    """Cut an outline into a centre and four side regions along corner-to-corner segments.

    Both curves run top-left, bottom-left, bottom-right, top-right; each side region is the outline
    arc between two corners closed by the inner arc between the matching inner corners.
    """
    inner_corners = [k * INNER_SAMPLES // 4 for k in range(4)]
    sides = {}
    for name, k in (("left", 0), ("bottom", 1), ("right", 2), ("top", 3)):
        arc = chain(outline, corners[k], corners[(k + 1) % 4])
        inner_arc = chain(inner, inner_corners[k], inner_corners[(k + 1) % 4])
        sides[name] = arc + inner_arc[::-1]
    sides["centre"] = list(inner)
    return sides


def tube(base: Point, control: Point, apex: Point, half: float, tip: float) -> list[Point]:
    """A tapering shape along a curved centre line (roots and canals) with a rounded end."""
    steps = 24
    left, right = [], []
    for k in range(steps + 1):
        t = k / steps
        u = 1 - t
        x = u * u * base[0] + 2 * u * t * control[0] + t * t * apex[0]
        y = u * u * base[1] + 2 * u * t * control[1] + t * t * apex[1]
        dx = 2 * u * (control[0] - base[0]) + 2 * t * (apex[0] - control[0])
        dy = 2 * u * (control[1] - base[1]) + 2 * t * (apex[1] - control[1])
        norm = math.hypot(dx, dy)
        width = half * (1 - (1 - tip / half) * t**1.3) * math.sqrt(max(0.0, 1 - t**5))
        nx, ny = -dy / norm * width, dx / norm * width
        left.append((x + nx, y + ny))
        right.append((x - nx, y - ny))
    return left + right[-2::-1]


# --- one tooth in the canonical frame --------------------------------------------------------------


def crown_outline(tooth: Tooth) -> tuple[list[Point], list[int]]:
    """Facial crown (cervical line at the top, edge at the bottom) and its four corner indices."""
    f, w, h, y0 = tooth.facial, tooth.width, tooth.height, CERVICAL_Y
    neck = f.neck * w / 2
    anchors = [
        Anchor(50 - neck, y0, 0.0),
        Anchor(50 - w / 2, y0 + f.contour[0] * h),
        *(Anchor(50 + a.x * w, y0 + a.y * h, a.tension) for a in (f.corners[0], *f.edge, f.corners[1])),
        Anchor(50 + w / 2, y0 + f.contour[1] * h),
        Anchor(50 + neck, y0, 0.0),
        Anchor(50, y0 - f.cej * h),
    ]
    last = len(anchors) - 1
    return spline(anchors), [0, 2 * SAMPLES, (last - 3) * SAMPLES, (last - 1) * SAMPLES]


def occlusal_outline(tooth: Tooth) -> tuple[list[Point], list[int]]:
    """Occlusal outline (buccal side up, mesial right) and its four corner indices.

    Each edge bows out along a parabola plus optional cusp bumps; each corner is rounded by three
    anchors (one on each edge, one pulled inside the corner) so it cannot flare out into a point.
    """
    o, w, d = tooth.occlusal, tooth.width, tooth.depth
    corners = [(50 + x * w, 50 + y * d) for x, y in o.corners]
    r = o.rounding

    def on_edge(k: int, t: float, extra: float = 0.0, tension: float = 1.0) -> Anchor:
        (ax, ay), (bx, by) = corners[k % 4], corners[(k + 1) % 4]
        length = math.hypot(bx - ax, by - ay)
        offset = (o.arcs[k % 4] * 4 * t * (1 - t) + extra) * (w if k % 2 == 0 else d) / length
        return Anchor(ax + (bx - ax) * t + (ay - by) * offset, ay + (by - ay) * t + (bx - ax) * offset, tension)

    anchors: list[Anchor] = []
    indices = []
    for k in range(4):
        (cx, cy), before, after = corners[k], on_edge(k - 1, 1 - r), on_edge(k, r)
        indices.append((len(anchors) + 1) * SAMPLES)
        mid = ((before.x + after.x) / 2 - cx, (before.y + after.y) / 2 - cy)
        anchors += [before, Anchor(cx + mid[0] * 0.4, cy + mid[1] * 0.4), after]
        inner = [a for a in (o.bumps[k] if o.bumps else ()) if r + 0.05 < a.x < 1 - r - 0.05]
        anchors.extend(on_edge(k, a.x, a.y, a.tension) for a in inner or (Anchor(0.5, 0.0),))
    return spline(anchors), indices


def root_shapes(tooth: Tooth) -> list[tuple[int, list[Point], list[Point]]]:
    """(number, root, canal) per root in drawing order, roots seen through the others first.

    Roots start a little under the crown so no seam shows at the cervical line.
    """
    w = tooth.width
    shapes = []
    for number, r in sorted(enumerate(tooth.roots, start=1), key=lambda nr: not nr[1].behind):
        base = (50 + r.base * w, CERVICAL_Y + 4)
        apex = (50 + r.apex * w, CERVICAL_Y - r.length)
        control = ((base[0] + apex[0]) / 2 + r.bend * w, (base[1] + apex[1]) / 2)
        root = tube(base, control, apex, r.half * w, r.half * w * 0.3)
        canal = tube((base[0], base[1] - 2), control, (apex[0], apex[1] + 4), min(2.2, r.half * w * 0.16), 0.7)
        shapes.append((number, root, canal))
    return shapes


# --- SVG output ----------------------------------------------------------------------------------


def num(v: float) -> str:
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def path(points: Sequence[Point], closed: bool = True) -> str:
    body = " L".join(f"{num(x)} {num(y)}" for x, y in points)
    return f"M{body}{' Z' if closed else ''}"


def filled(element_id: str, points: Sequence[Point], fill: str, stroke: float | None) -> str:
    line = f' stroke="{LINE}" stroke-width="{num(stroke)}" stroke-linejoin="round"' if stroke else ""
    return f'  <path id="{element_id}" d="{path(points)}" fill="{fill}"{line}/>'


def groove(points: Sequence[Point]) -> str:
    return (f'  <path d="{path(points, closed=False)}" fill="none" stroke="{GROOVE}" stroke-width="0.8"'
            ' stroke-linecap="round" stroke-linejoin="round"/>')


def document(height: int, body: list[str]) -> str:
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny" width="100" '
            f'height="{height}" viewBox="0 0 100 {height}">\n')
    return head + "\n".join(body) + "\n</svg>\n"


def flipper(tooth: Tooth, height: float) -> Callable[[Sequence[Point]], list[Point]]:
    """Lower teeth are the canonical drawing turned upside down (roots down, lingual up)."""
    if tooth.arch == "upper":
        return list
    return lambda points: [(x, height - y) for x, y in points]


def facial_svg(tooth: Tooth) -> str:
    flip = flipper(tooth, 200)
    outline, corners = crown_outline(tooth)
    dx, cy, a, b = tooth.inner
    inner = superellipse(50 + dx * tooth.width, CERVICAL_Y + cy * tooth.height, a * tooth.width,
                         b * tooth.height, 3.2)
    cut = regions(outline, corners, inner)
    tip, face = ("I", "F") if tooth.anterior else ("O", "B")
    body = []
    for number, root, canal in root_shapes(tooth):
        body.append(filled(f"root-{number}", flip(root), ROOT_FILL, 1.2))
        body.append(filled(f"canal-{number}", flip(canal), CANAL_FILL, None))
    body.append(filled("crown", flip(outline), IVORY, 1.2))
    for name, side in (("D", "left"), ("M", "right"), ("V", "top"), (tip, "bottom"), (face, "centre")):
        body.append(filled(f"surface-{name}", flip(cut[side]), IVORY, 1.2))
    return document(200, body)


def occlusal_svg(tooth: Tooth) -> str:
    flip = flipper(tooth, 100)
    o, w, d = tooth.occlusal, tooth.width, tooth.depth
    outline, corners = occlusal_outline(tooth)
    dx, dy, a, b, n = o.inner
    cut = regions(outline, corners, superellipse(50 + dx * w, 50 + dy * d, a * w, b * d, n))
    centre, face = ("I", "F") if tooth.anterior else ("O", "B")
    body = [filled("outline", flip(outline), IVORY, 1.2)]
    for name, side in (("D", "left"), ("M", "right"), (face, "top"), ("L", "bottom"), (centre, "centre")):
        body.append(filled(f"surface-{name}", flip(cut[side]), IVORY, 1.2))
    body.extend(groove(flip([(50 + x * w, 50 + y * d) for x, y in g])) for g in o.grooves)
    return document(100, body)


# --- the tooth table ------------------------------------------------------------------------------

A = Anchor


def incisor_facial(lower: bool) -> Facial:
    """Chisel crown: narrow neck, straight incisal edge, sharper mesial than distal angle."""
    if lower:
        return Facial(0.66, (0.76, 0.8), (A(-0.46, 0.975, 0.5), A(0.47, 0.99, 0.35)), (A(0.0, 1.0),), 0.1)
    return Facial(0.72, (0.62, 0.74), (A(-0.45, 0.935, 0.7), A(0.47, 0.985, 0.35)), (A(0.0, 1.0),), 0.1)


def canine_facial(lower: bool) -> Facial:
    """Pentagon crown with a cusp tip just mesial of centre; the mesial cusp ridge is shorter."""
    corners = (A(-0.46, 0.72, 0.7), A(0.46, 0.86, 0.7)) if lower else (A(-0.47, 0.66, 0.7), A(0.47, 0.76, 0.7))
    return Facial(0.66 if lower else 0.7, (0.52, 0.66 if lower else 0.56), corners, (A(0.05, 1.0, 0.3),), 0.08)


def premolar_facial(tip: float) -> Facial:
    """Shorter canine-like crown with a lower, blunter buccal cusp."""
    return Facial(0.7, (0.42, 0.42), (A(-0.46, 0.74, 0.7), A(0.46, 0.76, 0.7)), (A(tip, 1.0, 0.5),), 0.03)


def molar_facial(cusps: tuple[float, ...], neck: float = 0.78, contour: float = 0.4) -> Facial:
    """Wide crown whose occlusal edge dips at the buccal groove(s) between the buccal cusps."""
    edge = []
    for k, x in enumerate(cusps):
        if k:
            edge.append(A((x + cusps[k - 1]) / 2, 0.93, 0.5))
        edge.append(A(x, 1.0, 0.8))
    return Facial(neck, (contour, contour), (A(-0.46, 0.8, 0.6), A(0.47, 0.8, 0.6)), tuple(edge), 0.02)


def bumps(*points: tuple[float, float]) -> tuple[Anchor, ...]:
    return tuple(A(t, b) for t, b in points)


def incisor_occlusal(lower: bool) -> Occlusal:
    """Labial arc on top narrowing to the cingulum; the incisal band runs mesiodistally."""
    if lower:
        corners = ((-0.5, -0.2), (-0.42, 0.22), (0.42, 0.22), (0.5, -0.2))
        return Occlusal(corners, (0.05, 0.28, 0.05, 0.3), (0.0, -0.02, 0.3, 0.05, 2.0), rounding=0.35)
    corners = ((-0.5, -0.28), (-0.22, 0.36), (0.22, 0.36), (0.5, -0.28))
    return Occlusal(corners, (0.08, 0.14, 0.08, 0.2), (0.0, -0.14, 0.3, 0.05, 2.0), rounding=0.3)


def canine_occlusal() -> Occlusal:
    """Diamond: labial ridge point on top, contact corners at the sides, cingulum below."""
    corners = ((-0.5, -0.06), (-0.3, 0.3), (0.3, 0.3), (0.5, -0.1))
    return Occlusal(corners, (0.08, 0.2, 0.08, 0.3), (0.02, -0.1, 0.28, 0.05, 2.0), (),
                    ((), (), (), (A(0.5, 0.1, 0.6),)), 0.3)


PREMOLAR_GROOVES = (((-0.26, -0.1), (-0.17, 0.0), (0.17, 0.0), (0.26, -0.1)), ((-0.17, 0.0), (-0.26, 0.1)),
                    ((0.17, 0.0), (0.26, 0.1)))


def upper_premolar_occlusal(lingual: float) -> Occlusal:
    """Oval, longer buccolingually; two cusps split by a mesiodistal central groove."""
    corners = ((-0.46, -0.32), (-lingual, 0.3), (lingual, 0.3), (0.46, -0.32))
    return Occlusal(corners, (0.06, 0.2, 0.06, 0.18), (0.0, 0.0, 0.26, 0.2, 3.0), PREMOLAR_GROOVES)


def lower_premolar_occlusal(first: bool) -> Occlusal:
    """Round (first, small lingual cusp) or squarer with a Y groove (second)."""
    if first:
        corners = ((-0.48, -0.22), (-0.32, 0.32), (0.32, 0.32), (0.48, -0.24))
        grooves = (((-0.2, 0.06), (-0.08, 0.12), (0.08, 0.12), (0.2, 0.06)),)
        return Occlusal(corners, (0.06, 0.16, 0.06, 0.26), (0.0, 0.06, 0.25, 0.17, 3.0), grooves)
    corners = ((-0.48, -0.28), (-0.42, 0.32), (0.42, 0.32), (0.48, -0.28))
    grooves = (((-0.22, -0.04), (0.0, 0.06), (0.22, -0.04)), ((0.0, 0.06), (0.0, 0.22)))
    return Occlusal(corners, (0.05, 0.16, 0.05, 0.2), (0.0, 0.02, 0.27, 0.2, 3.0), grooves)


UPPER_MOLAR_GROOVES = (((0.26, -0.04), (0.04, 0.02), (0.0, -0.26)), ((-0.26, 0.02), (-0.1, 0.12), (-0.2, 0.28)),
                       ((0.04, 0.02), (-0.1, 0.12)))


def upper_molar_occlusal(corners: tuple[Point, Point, Point, Point], rounding: float = 0.22) -> Occlusal:
    """Rhomboid with acute mesiobuccal and distolingual angles; oblique ridge between two fossae."""
    cusps = ((), bumps((0.35, -0.01), (0.7, 0.02)), (), bumps((0.3, 0.01), (0.5, -0.01), (0.72, 0.01)))
    return Occlusal(corners, (0.03, 0.06, 0.04, 0.06), (0.0, 0.0, 0.27, 0.24, 3.5), UPPER_MOLAR_GROOVES, cusps,
                    rounding)


def lower_molar_occlusal(corners: tuple[Point, Point, Point, Point], five_cusps: bool) -> Occlusal:
    """Rectangle, longer mesiodistally; '+' groove, or the five-cusp 'Y' of a first molar."""
    if five_cusps:
        buccal = bumps((0.3, 0.0), (0.43, -0.015), (0.56, 0.0), (0.67, -0.015), (0.74, -0.005))
        grooves = (((-0.3, 0.02), (-0.12, 0.04), (0.06, -0.02), (0.3, 0.0)), ((0.06, -0.02), (0.02, -0.26)),
                   ((-0.12, 0.04), (-0.2, -0.24)), ((-0.03, 0.01), (-0.02, 0.26)))
    else:
        buccal = bumps((0.25, 0.0), (0.5, -0.015), (0.75, 0.0))
        grooves = (((-0.3, 0.0), (0.3, 0.0)), ((0.0, 0.0), (0.0, -0.25)), ((0.0, 0.0), (0.0, 0.25)))
    cusps = ((), bumps((0.3, 0.0), (0.5, -0.015), (0.7, 0.0)), (), buccal)
    return Occlusal(corners, (0.03, 0.05, 0.04, 0.06), (0.0, 0.02, 0.3, 0.22, 3.5), grooves, cusps)


def single(length: float, neck: float, apex: float = -0.04, bend: float = -0.02) -> tuple[Root, ...]:
    return (Root(0.0, neck / 2, apex, length, bend),)


def tooth(dentition: str, arch: str, kind: str, size: tuple[float, float, float], facial: Facial,
          occlusal: Occlusal, roots: tuple[Root, ...], inner: tuple[float, float, float, float] = (0, 0.52, 0.3, 0.19),
          ) -> Tooth:
    """One table row: size is (width, crown height, buccolingual depth) in drawing units."""
    return Tooth(dentition, arch, kind, *size, facial, occlusal, roots, inner)


UM1 = ((-0.42, -0.45), (-0.5, 0.42), (0.42, 0.45), (0.5, -0.45))
LM1 = ((-0.5, -0.4), (-0.44, 0.4), (0.46, 0.44), (0.5, -0.42))
CANINE_INNER = (0.0, 0.44, 0.28, 0.17)
MOLAR_INNER = (0.0, 0.5, 0.3, 0.18)


def upper_molar_roots(spread: float, length: float) -> tuple[Root, ...]:
    return (Root(0.2, 0.19, 0.2 - spread, length, 0.08), Root(-0.2, 0.17, -0.22 - spread, length - 6, -0.02),
            Root(0.0, 0.2, 0.02, length + 8, 0.0, behind=True))


def lower_molar_roots(spread: float, length: float) -> tuple[Root, ...]:
    return (Root(0.21, 0.18, 0.1 + spread, length, 0.08), Root(-0.21, 0.17, -0.2 - spread, length - 4, -0.02))


def primary_molar_roots(lingual: bool, length: float) -> tuple[Root, ...]:
    """Thin roots flaring wide apart around the successor's crown."""
    roots = (Root(0.24, 0.1, 0.4, length, 0.1), Root(-0.24, 0.1, -0.4, length - 4, -0.1))
    return (*roots, Root(0.0, 0.12, 0.06, length + 4, 0.0, behind=True)) if lingual else roots


TEETH: tuple[Tooth, ...] = (
    tooth("perm", "upper", "central", (70, 80, 58), incisor_facial(False), incisor_occlusal(False), single(92, 0.72)),
    tooth("perm", "upper", "lateral", (58, 72, 50), incisor_facial(False), incisor_occlusal(False),
          single(90, 0.72, -0.1, -0.06)),
    tooth("perm", "upper", "canine", (60, 80, 64), canine_facial(False), canine_occlusal(), single(104, 0.7),
          CANINE_INNER),
    tooth("perm", "upper", "premolar1", (68, 72, 86), premolar_facial(-0.03), upper_premolar_occlusal(0.36),
          (Root(-0.07, 0.29, -0.2, 82, -0.02), Root(0.07, 0.29, 0.12, 78, 0.04, behind=True))),
    tooth("perm", "upper", "premolar2", (66, 70, 84), premolar_facial(0.02), upper_premolar_occlusal(0.42),
          single(86, 0.7, -0.06)),
    tooth("perm", "upper", "molar1", (90, 64, 90), molar_facial((-0.21, 0.24)), upper_molar_occlusal(UM1),
          upper_molar_roots(0.0, 76), MOLAR_INNER),
    tooth("perm", "upper", "molar2", (86, 62, 88), molar_facial((-0.2, 0.22)),
          upper_molar_occlusal(((-0.42, -0.45), (-0.44, 0.36), (0.34, 0.45), (0.5, -0.45))),
          upper_molar_roots(0.1, 72), MOLAR_INNER),
    tooth("perm", "upper", "molar3", (84, 58, 82), molar_facial((-0.18, 0.2)),
          upper_molar_occlusal(((-0.42, -0.42), (-0.26, 0.36), (0.3, 0.42), (0.48, -0.45)), 0.3),
          upper_molar_roots(0.16, 60), MOLAR_INNER),
    tooth("perm", "lower", "central", (48, 70, 58), incisor_facial(True), incisor_occlusal(True),
          single(84, 0.66, 0.0)),
    tooth("perm", "lower", "lateral", (52, 72, 60), incisor_facial(True), incisor_occlusal(True), single(88, 0.66)),
    tooth("perm", "lower", "canine", (58, 82, 60), canine_facial(True), canine_occlusal(), single(98, 0.66, -0.06),
          CANINE_INNER),
    tooth("perm", "lower", "premolar1", (65, 74, 68), premolar_facial(0.02), lower_premolar_occlusal(True),
          single(90, 0.7, -0.05)),
    tooth("perm", "lower", "premolar2", (68, 70, 74), premolar_facial(0.0), lower_premolar_occlusal(False),
          single(92, 0.7, -0.06)),
    tooth("perm", "lower", "molar1", (92, 62, 78), molar_facial((-0.32, -0.04, 0.25)), lower_molar_occlusal(LM1, True),
          lower_molar_roots(0.06, 82), MOLAR_INNER),
    tooth("perm", "lower", "molar2", (88, 60, 76), molar_facial((-0.2, 0.22)), lower_molar_occlusal(LM1, False),
          lower_molar_roots(0.0, 78), MOLAR_INNER),
    tooth("perm", "lower", "molar3", (85, 56, 74), molar_facial((-0.2, 0.2)),
          lower_molar_occlusal(((-0.44, -0.4), (-0.34, 0.36), (0.42, 0.42), (0.48, -0.42)), False),
          lower_molar_roots(-0.08, 62), MOLAR_INNER),
    tooth("prim", "upper", "central", (56, 48, 46), incisor_facial(False), incisor_occlusal(False), single(62, 0.74)),
    tooth("prim", "upper", "lateral", (46, 46, 40), incisor_facial(False), incisor_occlusal(False), single(58, 0.72)),
    tooth("prim", "upper", "canine", (48, 54, 50), canine_facial(False), canine_occlusal(), single(70, 0.7),
          CANINE_INNER),
    tooth("prim", "upper", "molar1", (58, 50, 72), molar_facial((-0.18, 0.2), 0.66, 0.26),
          upper_molar_occlusal(((-0.4, -0.38), (-0.36, 0.38), (0.26, 0.44), (0.5, -0.44))),
          primary_molar_roots(True, 56), MOLAR_INNER),
    tooth("prim", "upper", "molar2", (70, 54, 78), molar_facial((-0.2, 0.22), 0.68, 0.26), upper_molar_occlusal(UM1),
          primary_molar_roots(True, 60), MOLAR_INNER),
    tooth("prim", "lower", "central", (40, 44, 40), incisor_facial(True), incisor_occlusal(True),
          single(56, 0.68, 0.0)),
    tooth("prim", "lower", "lateral", (42, 46, 42), incisor_facial(True), incisor_occlusal(True), single(58, 0.68)),
    tooth("prim", "lower", "canine", (46, 52, 46), canine_facial(True), canine_occlusal(), single(66, 0.68),
          CANINE_INNER),
    tooth("prim", "lower", "molar1", (62, 50, 52), molar_facial((-0.2, 0.24), 0.66, 0.26),
          lower_molar_occlusal(((-0.46, -0.4), (-0.42, 0.42), (0.34, 0.4), (0.5, -0.42)), False),
          primary_molar_roots(False, 56), MOLAR_INNER),
    tooth("prim", "lower", "molar2", (74, 52, 62), molar_facial((-0.3, -0.04, 0.24), 0.68, 0.26),
          lower_molar_occlusal(LM1, True), primary_molar_roots(False, 60), MOLAR_INNER),
)


def files() -> dict[str, str]:
    """File name → SVG text for every tooth and view."""
    return {name: text for t in TEETH
            for name, text in ((f"{t.stem}-facial.svg", facial_svg(t)), (f"{t.stem}-occlusal.svg", occlusal_svg(t)))}


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    target.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files().items()):
        (target / name).write_bytes(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
