"""The Imaging tab in the main window on the real reference server: import, view, window/level, upload.

Images are synthetic (pydicom datasets drawn with numpy), never patient images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.services.imaging import ImagingService, UploadState
from odonto_desk.ui.imaging.tab import ImagingTab
from odonto_desk.ui.main_window import MainWindow

RIVERA = "demo-rivera"
SHOTS = Path("/tmp/shots")


def panoramic_pixels(rows: int = 360, cols: int = 760) -> np.ndarray:
    """A panoramic-like 12-bit picture: two arches of bright crowns with roots, on darker bone."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    u = (x - cols / 2) / (cols / 2)
    img = 700 + 500 * np.exp(-(((y - rows * 0.5) / (rows * 0.45)) ** 2)) * (1 - 0.5 * u ** 2)  # soft tissue, bone
    smile = rows * 0.5 + rows * 0.08 * u ** 2  # the occlusal plane curves up at the back
    for n in range(16):
        cx = cols * (0.08 + 0.84 * (n + 0.5) / 16)
        cu = (cx - cols / 2) / (cols / 2)
        width = cols / 16 * (0.42 if abs(cu) > 0.45 else 0.32)
        for side in (-1, 1):  # upper and lower tooth
            crown_y = smile[0, int(cx)] + side * rows * 0.07
            crown = np.exp(-(((x - cx) / width) ** 4 + ((y - crown_y) / (rows * 0.055)) ** 4))
            root_y = crown_y + side * rows * 0.15
            root = np.exp(-(((x - cx) / (width * 0.45)) ** 2 + ((y - root_y) / (rows * 0.12)) ** 4))
            img += 2200 * crown + 1100 * root
    rng = np.random.default_rng(5)
    img += rng.normal(0, 40, img.shape)
    return np.clip(img, 0, 4095).astype(np.uint16)


def make_dicom(path: Path, pixels: np.ndarray, *, modality: str = "PX", window: tuple[float, float] | None = None
               ) -> Path:
    frames = pixels if pixels.ndim == 3 else pixels[None]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.StudyDate, ds.SeriesDescription = modality, "20261125", "synthetic test image"
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 16, 12, 11, 1
    ds.PhotometricInterpretation, ds.PixelRepresentation = "MONOCHROME2", 0
    if frames.shape[0] > 1:
        ds.NumberOfFrames = frames.shape[0]
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = frames.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def open_imaging(qtbot, w: MainWindow, patient_id: str = RIVERA) -> ImagingTab:
    for i in range(w.patients.count()):
        if w.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            w.patients.setCurrentRow(i)
    tab = w.tab("Imaging")
    assert isinstance(tab, ImagingTab)
    w.tabs.setCurrentWidget(w.patient_tabs["Imaging"])
    qtbot.waitUntil(lambda: tab.patient_id == patient_id, timeout=5000)
    return tab


def wheel(widget, steps: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_import_a_panoramic_view_it_windowed_and_it_reaches_the_server(qtbot, window, session, tmp_path):
    tab = open_imaging(qtbot, window)
    path = make_dicom(tmp_path / "pano.dcm", panoramic_pixels(), window=(2000, 3200))
    tab.import_path(path, teeth=(Tooth("30"), Tooth("19")), title="Panoramic 2026")
    qtbot.waitUntil(lambda: any(r.title == "Panoramic 2026" and r.state == UploadState.SENT for r in tab.rows),
                    timeout=15000)

    row = tab.rows[0]  # the newest first, above the demo patient's older bitewing
    assert row.key.startswith("DocumentReference/") and row.title == "Panoramic 2026" and len(tab.rows) == 2
    assert tab.table.item(0, 3).text() == "19, 30" and tab.table.item(0, 4).text() == "On server"
    assert session.client().read(*row.key.split("/"))["content"][0]["attachment"]["title"] == "Panoramic 2026"
    viewer = tab.viewer
    assert viewer.stack is not None and viewer.stack.frames.shape == (1, 360, 760)
    assert (viewer.window.center, viewer.window.width) == (2000, 3200)  # the file's own window
    grey = viewer.current_grey()
    assert grey.min() < 40 and grey.max() == 255 and grey.std() > 30  # a picture, not a blank
    assert tab.level.value() == 2000 and tab.width_slider.value() == 3200
    assert not tab.frame.isEnabled() and tab.frame_label.text() == "Frame 1 / 1"

    window.set_numbering(NumberingSystem.FDI)
    assert tab.table.item(0, 3).text() == "36, 46"
    window.set_numbering(NumberingSystem.UNIVERSAL)
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.resize(1500, 900)
    qtbot.wait(100)
    assert window.grab().save(str(SHOTS / "imaging.png"))


def test_window_level_zoom_pan_and_frames_follow_mouse_keys_and_sliders(qtbot, window, tmp_path):
    tab = open_imaging(qtbot, window)
    volume = np.stack([np.full((40, 60), 500 * (k + 1)) for k in range(5)])
    tab.import_path(make_dicom(tmp_path / "cbct.dcm", volume, modality="CT"), kind="cbct")
    viewer = tab.viewer
    qtbot.waitUntil(lambda: viewer.stack is not None and viewer.stack.frame_count == 5, timeout=10000)
    assert viewer.frame == 2 and tab.frame_label.text() == "Frame 3 / 5"  # a volume opens at its middle slice

    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_PageDown)
    assert viewer.frame == 3 and tab.frame.value() == 3 and int(viewer.stack.frames[3][0, 0]) == 2000
    wheel(viewer, 2, Qt.KeyboardModifier.ControlModifier)
    assert viewer.frame == 1
    tab.frame.setValue(4)
    assert viewer.frame == 4 and tab.frame_label.text() == "Frame 5 / 5"

    zoom = viewer.zoom
    wheel(viewer, 1)
    assert viewer.zoom == pytest.approx(zoom * 1.25)
    qtbot.keyClick(viewer, Qt.Key.Key_0)
    assert viewer.zoom == pytest.approx(zoom) and viewer.pan == QPointF(0, 0)

    start = QPoint(100, 100)
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewer, start + QPoint(30, -20))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=start + QPoint(30, -20))
    assert viewer.pan == QPointF(30, -20)

    before = viewer.window
    qtbot.mousePress(viewer, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(viewer, start + QPoint(40, 25))  # right = wider, down = lower level
    qtbot.mouseRelease(viewer, Qt.MouseButton.RightButton, pos=start + QPoint(40, 25))
    assert viewer.window.width > before.width and viewer.window.center < before.center
    assert tab.level.value() == round(viewer.window.center)

    tab.level.setValue(2500)
    tab.width_slider.setValue(2)
    assert (viewer.window.center, viewer.window.width) == (2500, 2)
    assert viewer.current_grey()[0, 0] == 255  # frame 5 holds 2500: white in a 2-wide window at 2500


def test_a_jpeg_photo_is_imported_viewed_in_colour_and_sent_with_its_teeth(qtbot, window, session, tmp_path):
    from PySide6.QtGui import QColor, QImage

    tab = open_imaging(qtbot, window)
    picture = QImage(120, 80, QImage.Format.Format_RGB32)
    picture.fill(QColor(200, 40, 40))  # a flat red: JPEG keeps it within a few levels
    path = tmp_path / "smile.jpg"
    assert picture.save(str(path), "JPEG", 95)
    tab.import_path(path, kind="intraoral-photo", teeth=(Tooth("8"), Tooth("9")), title="Smile")
    qtbot.waitUntil(lambda: any(r.title == "Smile" and r.state == UploadState.SENT for r in tab.rows), timeout=15000)
    stack = tab.viewer.stack
    assert stack is not None and stack.frames.shape == (1, 80, 120, 3)  # decoded to colour pixels
    red, green, blue = (int(v) for v in stack.frames[0, 40, 60])
    assert red > 180 and green < 70 and blue < 70
    row = next(r for r in tab.rows if r.title == "Smile")
    doc = session.client().read(*row.key.split("/"))
    assert doc["content"][0]["attachment"]["contentType"] == "image/jpeg"
    assert tab.table.item(tab.rows.index(row), 3).text() == "8, 9"


@pytest.mark.parametrize(("content", "says"), [
    (b"just some text, not an image", "not a PNG, JPEG or DICOM"),
    (None, "incomplete or damaged"),
])
def test_a_bad_file_says_why_next_to_the_list_and_queues_nothing(qtbot, window, session, tmp_path, content, says):
    tab = open_imaging(qtbot, window)
    qtbot.waitUntil(lambda: len(tab.rows) == 1, timeout=3000)
    path = tmp_path / "bad.dcm"
    if content is None:
        whole = make_dicom(tmp_path / "whole.dcm", panoramic_pixels(60, 80)).read_bytes()
        content = whole[:-3000]
    path.write_bytes(content)
    tab.import_path(path)
    qtbot.waitUntil(lambda: tab.message.text().startswith("Not imported"), timeout=5000)
    assert says in tab.message.text()
    assert ImagingService(session).jobs() == []
    assert [r.title for r in tab.rows] == ["Right bitewing"]  # only the demo patient's earlier image


def test_an_upload_left_waiting_by_an_earlier_run_is_sent_when_the_app_starts(qtbot, request, session, tmp_path):
    job, _ = ImagingService(session).import_image(RIVERA, make_dicom(tmp_path / "p.dcm", panoramic_pixels(50, 90)))
    assert ImagingService(session).jobs()[0].state == UploadState.WAITING
    window = request.getfixturevalue("window")  # the app starts with one image queued
    tab = window.tab("Imaging")
    qtbot.waitUntil(lambda: ImagingService(session).jobs()[0].state == UploadState.SENT, timeout=15000)
    assert "1 image(s) sent" in tab.message.text()
    doc = ImagingService(session).jobs()[0].result["document_reference"]
    assert session.client().read(*doc.split("/"))["content"][0]["attachment"]["size"] == job.size


def test_the_import_dialog_reads_teeth_in_the_numbering_in_use_and_refuses_bad_ones(qtbot):
    from odonto_desk.ui.imaging.import_dialog import ImportDialog

    dialog = ImportDialog("bw-right.dcm", NumberingSystem.FDI, kind="bitewing")
    qtbot.addWidget(dialog)
    assert dialog.chosen_kind == "bitewing" and dialog.title.text() == "bw-right"
    dialog.teeth_edit.setText("46, 99")
    dialog.accept()
    assert dialog.result() == 0 and "99" in dialog.error.text()
    dialog.teeth_edit.setText("46 47")
    dialog.accept()
    assert dialog.result() == 1 and dialog.teeth == (Tooth("30"), Tooth("31"))


def test_the_progress_bar_follows_each_chunk_sent_to_the_end(qtbot, window, session, tmp_path):
    tab = open_imaging(qtbot, window)
    tab.service.chunk_size = 64 * 1024  # a 0.5 MB file goes up in nine chunks
    seen: list[tuple[int, int, bool, str]] = []
    tab._progress.moved.connect(lambda _job, done, total: seen.append(
        (done, total, tab.progress.isVisible(), tab.progress.format())))
    path = make_dicom(tmp_path / "pano.dcm", panoramic_pixels(360, 760), window=(2000, 3200))
    tab.import_path(path, teeth=(Tooth("30"),), title="Chunked pano")
    qtbot.waitUntil(lambda: any(r.title == "Chunked pano" and r.state == UploadState.SENT for r in tab.rows),
                    timeout=15000)
    size = path.stat().st_size
    assert len(seen) >= size // (64 * 1024)
    dones = [d for d, _, _, _ in seen]
    assert dones == sorted(dones) and dones[-1] == size and {t for _, t, _, _ in seen} == {size}
    assert all(visible for _, _, visible, _ in seen[1:])  # shown from the first chunk on
    assert seen[-1][3] == f"Sending image: {size // 1024:,} of {size // 1024:,} kB"
    assert not tab.progress.isVisible()  # hidden once the upload is done


def test_an_upload_left_waiting_is_sent_after_a_sync_without_opening_the_imaging_tab(qtbot, request, session,
                                                                                    tmp_path):
    ImagingService(session).import_image(RIVERA, make_dicom(tmp_path / "p.dcm", panoramic_pixels(50, 90)))
    window = request.getfixturevalue("window")
    with qtbot.waitSignal(window.synced, timeout=20_000):
        window.sync_now()
    qtbot.waitUntil(lambda: ImagingService(session).jobs()[0].state == UploadState.SENT, timeout=15_000)
    assert not window.patient_tabs["Imaging"].built  # the tab (and what it imports) was never built
    qtbot.waitUntil(lambda: "1 image(s) left waiting by an earlier session sent" in
                    window.statusBar().currentMessage(), timeout=5000)
