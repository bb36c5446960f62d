from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import InvalidSurface
from odonto_desk.domain.surfaces import (
    CLAIM_SURFACES,
    Surface,
    claim_surfaces,
    format_surfaces,
    normalize_surface,
    parse_surfaces,
    surfaces_of,
)
from odonto_desk.domain.teeth import ALL_TEETH, Tooth

teeth = st.sampled_from(ALL_TEETH)


@given(teeth)
def test_surfaces_of_a_tooth(tooth):
    s = set(surfaces_of(tooth))
    assert {Surface.M, Surface.D, Surface.L, Surface.V} <= s
    if tooth.is_anterior:
        assert Surface.I in s and Surface.F in s and Surface.O not in s and Surface.B not in s
    else:
        assert Surface.O in s and Surface.B in s and Surface.I not in s and Surface.F not in s


@given(teeth, st.sets(st.sampled_from(list(Surface))))
def test_normalize_accepts_exactly_the_valid_letters(tooth, letters):
    valid = set(surfaces_of(tooth)) | {Surface.B, Surface.F}
    for letter in letters:
        if letter in valid:
            assert normalize_surface(letter, tooth) in surfaces_of(tooth)
        else:
            with pytest.raises(InvalidSurface) as err:
                normalize_surface(letter, tooth)
            assert err.value.field == "surfaces"


@given(teeth, st.data())
def test_format_is_canonical_and_order_free(tooth, data):
    chosen = data.draw(st.lists(st.sampled_from(surfaces_of(tooth)), unique=True))
    shuffled = data.draw(st.permutations(chosen))
    assert format_surfaces(chosen) == format_surfaces(shuffled)
    assert parse_surfaces(format_surfaces(chosen), tooth) == frozenset(chosen)


def test_canonical_order_examples():
    molar = Tooth("30")
    assert format_surfaces(parse_surfaces("DOM", molar)) == "MOD"
    assert format_surfaces(parse_surfaces("lbodm", molar)) == "MODBL"
    incisor = Tooth("8")
    assert format_surfaces(parse_surfaces("FDIM", incisor)) == "MIDF"


def test_facial_letter_follows_the_tooth():
    assert parse_surfaces("B", Tooth("8")) == {Surface.F}
    assert parse_surfaces("F", Tooth("30")) == {Surface.B}


@pytest.mark.parametrize(("tooth", "letters", "needle"),
                         [("8", "O", "no occlusal"), ("30", "I", "no incisal"), ("30", "X", "not a surface"),
                          ("30", "MM", "twice"), ("C", "O", "no occlusal")])
def test_bad_surfaces(tooth, letters, needle):
    with pytest.raises(InvalidSurface, match=needle) as err:
        parse_surfaces(letters, Tooth(tooth))
    assert err.value.field == "surfaces"


@given(teeth, st.data())
def test_claim_surfaces_convert_v(tooth, data):
    chosen = data.draw(st.sets(st.sampled_from(surfaces_of(tooth))))
    out = claim_surfaces(chosen, tooth)
    assert Surface.V not in out
    assert set(out) <= CLAIM_SURFACES
    if Surface.V in chosen:
        assert (Surface.F if tooth.is_anterior else Surface.B) in out
