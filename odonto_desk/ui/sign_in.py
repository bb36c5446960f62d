"""Sign-in: who is working (name and role) and on which server."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from odonto_desk.services.session import Role


class SignInDialog(QDialog):
    def __init__(self, *, user: str = "", role: str = "", server_url: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in — Odonto Desk")
        self.user = QLineEdit(user)
        self.user.setAccessibleName("Your name")
        self.user.setPlaceholderText("e.g. Dr. Lee")
        self.role = QComboBox()
        self.role.setAccessibleName("Role")
        for r in Role:
            self.role.addItem(r.label, r)
        if role:
            self.role.setCurrentIndex(max(0, self.role.findData(Role(role))))
        self.server = QComboBox()
        self.server.setAccessibleName("Server")
        self.server.setEditable(True)
        self.server.addItem("Embedded reference server (demo patients)", "")
        if server_url:
            self.server.addItem(server_url, server_url)
            self.server.setCurrentIndex(1)
        self.server.lineEdit().setPlaceholderText("or type an Apex server URL")
        self.error = QLabel("")
        self.error.setStyleSheet("color:#B00020;")
        form = QFormLayout(self)
        form.addRow("&Name", self.user)
        form.addRow("&Role", self.role)
        form.addRow("&Server", self.server)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def server_url(self) -> str:
        data = self.server.currentData()
        text = self.server.currentText().strip()
        if data is not None and self.server.itemText(self.server.currentIndex()) == text:
            return str(data)
        return text

    def chosen_role(self) -> Role:
        return Role(self.role.currentData())

    def _accept(self) -> None:
        if not self.user.text().strip():
            self.error.setText("Enter your name: every edit is signed with it.")
            return
        url = self.server_url()
        if url and not url.startswith(("http://", "https://")):
            self.error.setText(f"{url!r} is not a server address (http://… or https://…).")
            return
        self.accept()
