"""Credentials at rest: client secrets, API keys, webhook secrets, by (service, name).

The OS keyring comes first (Keychain, Windows Credential Locker, Secret Service). Where there is
none usable — no backend at all, or keyring's ``fail``/``null`` stand-ins, as on a headless Linux
box — secrets go to a JSON file in the user config directory that only the user can read: it is
created with mode 0600 from the start (``os.open``, never chmod after the fact, so there is no
moment when it is readable by others), and a file that group or others can read is refused rather
than trusted, since someone else may already have copied it.

Secret values never reach a log line or a repr; only service and name do.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from platformdirs import user_config_path

log = logging.getLogger(__name__)

APP = "odonto-desk"
FILE_NAME = "secrets.json"


class SecretStoreError(Exception):
    """The secrets could not be read or written safely."""


class InsecureSecretFile(SecretStoreError):
    """The fallback file is readable by group or others; fix its mode before it is used."""


def default_file() -> Path:
    return user_config_path(APP) / FILE_NAME


def usable_keyring() -> KeyringBackend | None:
    """The active keyring backend, or None when it is one that cannot store anything."""
    try:
        backend = keyring.get_keyring()
    except keyring.errors.KeyringError:
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    return backend


class SecretStore:
    """Store, load and delete secrets. ``backend``/``file_path`` are injectable (tests, portable installs)."""

    def __init__(self, *, file_path: Path | None = None, backend: KeyringBackend | None = None,
                 use_keyring: bool = True) -> None:
        self.file_path = file_path or default_file()
        self._backend = backend if backend is not None else (usable_keyring() if use_keyring else None)

    def __repr__(self) -> str:
        where = type(self._backend).__name__ if self._backend is not None else f"file {self.file_path}"
        return f"SecretStore({where})"

    @property
    def uses_keyring(self) -> bool:
        return self._backend is not None

    @staticmethod
    def _service(service: str) -> str:
        return f"{APP}:{service}"

    def store(self, service: str, name: str, value: str) -> None:
        if self._backend is not None:
            try:
                self._backend.set_password(self._service(service), name, value)
                log.info("stored secret %s/%s in the keyring", service, name)
                return
            except keyring.errors.NoKeyringError:
                self._fall_back()
        data = self._read_file()
        data.setdefault(service, {})[name] = value
        self._write_file(data)
        log.info("stored secret %s/%s in %s", service, name, self.file_path)

    def load(self, service: str, name: str) -> str | None:
        if self._backend is not None:
            try:
                return self._backend.get_password(self._service(service), name)
            except keyring.errors.NoKeyringError:
                self._fall_back()
        return self._read_file().get(service, {}).get(name)

    def delete(self, service: str, name: str) -> bool:
        """Forget a secret; False when there was none."""
        if self._backend is not None:
            try:
                self._backend.delete_password(self._service(service), name)
                log.info("deleted secret %s/%s from the keyring", service, name)
                return True
            except keyring.errors.PasswordDeleteError:
                return False
            except keyring.errors.NoKeyringError:
                self._fall_back()
        data = self._read_file()
        if name not in data.get(service, {}):
            return False
        del data[service][name]
        if not data[service]:
            del data[service]
        self._write_file(data)
        log.info("deleted secret %s/%s from %s", service, name, self.file_path)
        return True

    def _fall_back(self) -> None:
        log.warning("no usable keyring backend; keeping secrets in %s", self.file_path)
        self._backend = None

    # --- the fallback file -------------------------------------------------------------------------

    def _read_file(self) -> dict[str, dict[str, str]]:
        try:
            fd = os.open(self.file_path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        with os.fdopen(fd, "r", encoding="utf-8") as f:
            mode = os.fstat(f.fileno()).st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InsecureSecretFile(
                    f"{self.file_path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); "
                    f"refusing to use it. Make it private with: chmod 600 '{self.file_path}'")
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise SecretStoreError(f"{self.file_path} is not valid JSON (line {e.lineno})") from None
        if not isinstance(data, dict):
            raise SecretStoreError(f"{self.file_path} does not hold a JSON object")
        return data

    def _write_file(self, data: dict[str, dict[str, str]]) -> None:
        """Write a new private file beside the old one, then swap it in, so a crash leaves one whole file."""
        self.file_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.file_path.with_name(self.file_path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.file_path)
