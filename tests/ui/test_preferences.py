"""File ▸ Preferences: one editor per option, every value checked by its option, all or nothing."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from odonto_desk.ui.preferences import PreferencesDialog
from odonto_desk.ui.settings import OPTIONS


def test_every_user_option_has_a_titled_editor_showing_its_value(qtbot, settings):
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    assert set(dialog.editors) == {k for k in OPTIONS if k.startswith("setting/")}
    for key, editor in dialog.editors.items():
        assert editor.accessibleName() == OPTIONS[key].title
        assert dialog.value(key) == settings.get(key)


def test_ok_saves_every_changed_value(qtbot, settings):
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    numbering = dialog.editors["setting/numbering"]
    assert isinstance(numbering, QComboBox)
    numbering.setCurrentIndex(numbering.findData("fdi"))
    red_pd = dialog.editors["setting/perio_red_pd"]
    assert isinstance(red_pd, QSpinBox)
    red_pd.setValue(5)
    dialog.accept()
    assert dialog.result() == PreferencesDialog.DialogCode.Accepted
    assert settings.get("setting/numbering") == "fdi" and settings.get("setting/perio_red_pd") == 5


def test_a_bad_value_is_named_and_nothing_is_saved(qtbot, settings):
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    red_pd = dialog.editors["setting/perio_red_pd"]
    assert isinstance(red_pd, QSpinBox)
    red_pd.setValue(6)  # a good change, made before the bad one
    custom = dialog.editors["setting/perio_custom_path"]
    assert isinstance(custom, QLineEdit)
    custom.setText("1-16 F, 16-1 sideways")
    server = dialog.editors["setting/server_url"]
    assert isinstance(server, QLineEdit)
    dialog.accept()
    assert dialog.isVisible() and dialog.result() != PreferencesDialog.DialogCode.Accepted
    assert "Perio custom path" in dialog.error.text() and "Nothing was saved" in dialog.error.text()
    assert settings.get("setting/perio_red_pd") == 4  # all or nothing
    assert settings.get("setting/perio_custom_path") == OPTIONS["setting/perio_custom_path"].default
    server.setText("ftp://example")
    custom.setText("1-16 F")
    dialog.accept()
    assert "Apex server" in dialog.error.text() and settings.get("setting/server_url") == ""
