"""Importing and viewing images: file kinds by their bytes, tooth tags, and window/level to 8-bit grey."""

from __future__ import annotations

import numpy as np
import pytest

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.imaging import (
    PNG_SIGNATURE,
    ImageFormat,
    Window,
    apply_window,
    auto_window,
    parse_teeth,
    sniff_format,
)
from odonto_desk.domain.teeth import Tooth

PNG_TAIL = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def test_formats_are_told_by_their_bytes_not_their_names():
    assert sniff_format(PNG_SIGNATURE + b"rest", PNG_TAIL, 100) is ImageFormat.PNG
    assert sniff_format(b"\xff\xd8\xff\xe0JFIF", b"....\xff\xd9", 100) is ImageFormat.JPEG
    assert sniff_format(b"\x00" * 128 + b"DICM" + b"\x02\x00", b"x" * 16, 400) is ImageFormat.DICOM
    assert ImageFormat.DICOM.value == "application/dicom"
    assert ImageFormat.JPEG.extension == ".jpg"


@pytest.mark.parametrize(("head", "tail", "size", "says"), [
    (b"", b"", 0, "empty"),
    (PNG_SIGNATURE + b"IHDR", b"IDAT-cut-short", 50, "PNG file is incomplete"),
    (b"\xff\xd8\xff\xe0", b"no end marker!!!", 50, "JPEG file is incomplete"),
    (b"%PDF-1.7\n", b"%%EOF", 40, "not a PNG, JPEG or DICOM"),
    (b"\x00" * 128 + b"DICX", b"", 132, "not a PNG, JPEG or DICOM"),
])
def test_an_empty_cut_or_foreign_file_is_refused_with_a_reason(head, tail, size, says):
    with pytest.raises(DomainError, match=says) as err:
        sniff_format(head, tail, size)
    assert err.value.field == "file"


def test_a_jpeg_padded_after_its_end_marker_still_reads():
    assert sniff_format(b"\xff\xd8\xff\xdb", b"\xff\xd9" + b"\x00" * 10, 90) is ImageFormat.JPEG


def test_teeth_are_read_as_a_list_or_ranges_in_the_numbering_in_use():
    assert parse_teeth("31, 30 30") == (Tooth("30"), Tooth("31"))
    assert parse_teeth("2-4;14") == (Tooth("2"), Tooth("3"), Tooth("4"), Tooth("14"))
    assert parse_teeth("46 47", "fdi") == (Tooth("30"), Tooth("31"))
    assert parse_teeth("  ") == ()
    with pytest.raises(DomainError, match="99"):
        parse_teeth("3, 99")


def test_window_maps_its_span_onto_black_to_white_linearly():
    w = Window(center=2048, width=4096)
    grey = apply_window(np.array([-10, 0, 1024, 2048, 3072, 4095, 9000]), w)
    assert grey.dtype == np.uint8
    assert grey.tolist() == [0, 0, 64, 128, 191, 255, 255]


def test_a_narrow_window_raises_contrast_inside_and_clips_outside():
    pixels = np.array([[900, 1000, 1100], [1190, 1200, 5000]])
    grey = apply_window(pixels, Window(center=1000, width=200))
    assert grey[0].tolist() == [0, 128, 255]
    assert grey[1].tolist() == [255, 255, 255]
    assert apply_window(pixels, Window(center=1000, width=200), invert=True)[0].tolist() == [255, 127, 0]


def test_a_window_one_wide_is_a_threshold():
    assert apply_window(np.array([99, 100, 101]), Window(100, 1)).tolist() == [0, 255, 255]


def test_the_window_width_is_at_least_one():
    with pytest.raises(DomainError, match="at least 1"):
        Window(100, 0)
    assert (Window(100, 40).low, Window(100, 40).high) == (80, 120)


def test_auto_window_ignores_a_few_outliers():
    rng = np.random.default_rng(7)
    pixels = rng.integers(1000, 2000, size=(100, 100))
    pixels[0, :5] = 65535  # hot pixels
    w = auto_window(pixels)
    assert 990 <= w.low <= 1020 and 1980 <= w.high <= 2010
    assert apply_window(pixels, w).std() > 60  # uses the grey range, not washed out by the hot pixels


def test_auto_window_of_a_flat_or_empty_image_is_still_a_window():
    assert auto_window(np.full((4, 4), 7)).width == 1
    assert auto_window(np.array([])).width == 256
