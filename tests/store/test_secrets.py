"""Secrets: the OS keyring when there is one, else a private file; never in logs or reprs."""

from __future__ import annotations

import logging
import os
import stat

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from odonto_desk.store.secrets import InsecureSecretFile, SecretStore, SecretStoreError, usable_keyring

VALUE = "s3cr3t-value-7f1e9a"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def set_password(self, service, username, password):
        self.data[(service, username)] = password

    def get_password(self, service, username):
        return self.data.get((service, username))

    def delete_password(self, service, username):
        if self.data.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class VanishingKeyring(MemoryKeyring):
    """A backend that looked usable but has no service behind it (e.g. no D-Bus session)."""

    def set_password(self, service, username, password):
        raise keyring.errors.NoKeyringError("no secret service")

    def get_password(self, service, username):
        raise keyring.errors.NoKeyringError("no secret service")


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_fail_and_null_backends_are_not_usable(monkeypatch, backend):
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    assert usable_keyring() is None
    assert not SecretStore(file_path=None).uses_keyring


def test_the_fallback_file_is_created_private_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    path = tmp_path / "conf" / "secrets.json"
    old = os.umask(0)  # even a permissive umask must not widen the file
    try:
        store = SecretStore(file_path=path)
        store.store("apex", "client_secret", VALUE)
        store.store("apex", "webhook_secret", "w")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = SecretStore(file_path=path)
    assert again.load("apex", "client_secret") == VALUE
    assert again.load("apex", "missing") is None
    assert again.delete("apex", "client_secret") is True
    assert again.delete("apex", "client_secret") is False
    assert again.load("apex", "client_secret") is None
    assert again.load("apex", "webhook_secret") == "w"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_can_read_is_refused(tmp_path, mode):
    path = tmp_path / "secrets.json"
    store = SecretStore(file_path=path, use_keyring=False)
    store.store("apex", "api_key", VALUE)
    path.chmod(mode)
    with pytest.raises(InsecureSecretFile, match="chmod 600") as err:
        store.load("apex", "api_key")
    assert VALUE not in str(err.value)
    with pytest.raises(InsecureSecretFile):
        store.store("apex", "other", "x")  # writing would read it first


def test_a_corrupt_file_is_reported_without_its_content(tmp_path):
    path = tmp_path / "secrets.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f'{{"apex": "{VALUE}'.encode())
    os.close(fd)
    with pytest.raises(SecretStoreError) as err:
        SecretStore(file_path=path, use_keyring=False).load("apex", "x")
    assert VALUE not in str(err.value)


def test_a_usable_keyring_is_preferred_and_no_file_is_written(tmp_path):
    backend = MemoryKeyring()
    store = SecretStore(file_path=tmp_path / "secrets.json", backend=backend)
    store.store("apex", "client_secret", VALUE)
    assert backend.data == {("odonto-desk:apex", "client_secret"): VALUE}
    assert store.load("apex", "client_secret") == VALUE
    assert not (tmp_path / "secrets.json").exists()
    assert store.delete("apex", "client_secret") is True
    assert store.delete("apex", "client_secret") is False


def test_a_keyring_that_fails_at_use_falls_back_to_the_file(tmp_path):
    store = SecretStore(file_path=tmp_path / "secrets.json", backend=VanishingKeyring())
    store.store("apex", "client_secret", VALUE)
    assert not store.uses_keyring
    assert (tmp_path / "secrets.json").exists()
    assert SecretStore(file_path=tmp_path / "secrets.json", use_keyring=False).load("apex", "client_secret") == VALUE


def test_secret_values_never_reach_logs_or_reprs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    for store in (SecretStore(file_path=tmp_path / "a.json", use_keyring=False),
                  SecretStore(file_path=tmp_path / "b.json", backend=MemoryKeyring()),
                  SecretStore(file_path=tmp_path / "c.json", backend=VanishingKeyring())):
        store.store("apex", "client_secret", VALUE)
        assert store.load("apex", "client_secret") == VALUE
        store.delete("apex", "client_secret")
        assert VALUE not in repr(store)
    assert caplog.records  # the operations were logged…
    assert "client_secret" in caplog.text
    assert VALUE not in caplog.text  # …by name only
