"""One way to show an error: a message a person can act on, never a bare traceback."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from odonto_desk.domain.errors import DomainError

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """The sentence to show for an exception (domain errors already speak clinically)."""
    if isinstance(exc, DomainError):
        return str(exc)
    name = type(exc).__name__
    if name in ("NetworkError", "ConnectError"):
        return "The server cannot be reached. Your work is saved on this computer and will be sent later."
    if name in ("AuthError", "CredentialsMissing"):
        return f"Sign-in failed: {exc}"
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "Not found."
    return f"{exc}" or name


def show_error(parent: object, exc: BaseException) -> None:
    log.warning("op failed: %s: %s", type(exc).__name__, exc)
    widget = parent if isinstance(parent, QWidget) else None
    QMessageBox.warning(widget, "Odonto Desk", describe(exc))
