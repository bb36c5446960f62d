"""Start the desktop app. Qt is imported here and in ``ui/`` only."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from odonto_desk.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("Odonto Desk")
    app.setOrganizationName("Odonto Desk")
    app.setApplicationDisplayName("Odonto Desk")
    window = MainWindow()
    window.show()
    return int(app.exec())
