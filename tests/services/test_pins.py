"""Unlock PINs: only a salted hash is kept, per normalised user; bad PINs are refused with a reason."""

from __future__ import annotations

import json
import logging

import pytest

from odonto_desk.services.pins import (
    SECRET_SERVICE,
    PinError,
    PinStore,
    ScryptParams,
    WrongPin,
    encode,
    matches,
    record_lock,
)
from odonto_desk.store.secrets import SecretStore

FAST = ScryptParams(n=2**10)  # the hashing is the same; only cheaper, so the tests stay quick


@pytest.fixture
def secrets_file(tmp_path):
    return tmp_path / "secrets.json"


@pytest.fixture
def pins(secrets_file):
    return PinStore(SecretStore(file_path=secrets_file, use_keyring=False), params=FAST)


def stored(secrets_file) -> dict[str, str]:
    return json.loads(secrets_file.read_text(encoding="utf-8"))[SECRET_SERVICE]


def test_the_stored_value_is_a_salted_hash_naming_its_parameters(pins, secrets_file):
    pins.set_pin("Dr. Lee", "482916")
    [(key, value)] = stored(secrets_file).items()
    assert key == "dr. lee"
    assert "482916" not in value and "482916" not in secrets_file.read_text(encoding="utf-8")
    scheme, n, r, p, salt, digest = value.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert salt and digest


def test_two_users_with_the_same_pin_get_different_hashes(pins, secrets_file):
    pins.set_pin("Dr. Lee", "2468")
    pins.set_pin("Sam Ortiz, RDH", "2468")
    hashes = stored(secrets_file)
    assert hashes["dr. lee"] != hashes["sam ortiz, rdh"]
    assert pins.check("Sam Ortiz, RDH", "2468") and pins.check("Dr. Lee", "2468")


def test_the_right_pin_unlocks_and_a_wrong_one_does_not(pins):
    assert not pins.has_pin("Dr. Lee") and not pins.check("Dr. Lee", "1234")  # no PIN: nothing matches
    pins.set_pin("Dr. Lee", "1234")
    assert pins.has_pin("Dr. Lee")
    assert pins.check("Dr. Lee", "1234")
    assert not pins.check("Dr. Lee", "1235")
    assert not pins.check("Dr. Lee", "")
    assert not pins.check("Someone Else", "1234")


def test_the_user_name_is_normalised(pins):
    pins.set_pin("Dr.  Lee ", "1234")
    assert pins.has_pin("dr. lee") and pins.check("DR. LEE", "1234")
    assert not pins.has_pin("Dr Lee")  # punctuation makes another name


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", "12 34", "", "١٢٣٤", "1234\n"])
def test_a_pin_is_4_to_12_ascii_digits(pins, pin):
    with pytest.raises(PinError, match="A PIN is 4 to 12 digits"):
        pins.set_pin("Dr. Lee", pin)
    assert not pins.has_pin("Dr. Lee")


def test_changing_or_removing_a_pin_needs_the_current_one(pins):
    pins.set_pin("Dr. Lee", "1234")
    with pytest.raises(WrongPin, match="current PIN is wrong"):
        pins.set_pin("Dr. Lee", "5678")
    with pytest.raises(WrongPin):
        pins.set_pin("Dr. Lee", "5678", current="0000")
    with pytest.raises(WrongPin):
        pins.clear("Dr. Lee", "0000")
    assert pins.check("Dr. Lee", "1234")
    pins.set_pin("Dr. Lee", "5678", current="1234")
    assert pins.check("Dr. Lee", "5678") and not pins.check("Dr. Lee", "1234")
    pins.clear("Dr. Lee", "5678")
    assert not pins.has_pin("Dr. Lee")


def test_a_pin_kept_with_older_parameters_is_stored_again_with_the_current_ones(secrets_file):
    store = SecretStore(file_path=secrets_file, use_keyring=False)
    PinStore(store, params=ScryptParams(n=2**9)).set_pin("Dr. Lee", "1234")
    raised = PinStore(store, params=FAST)
    assert not raised.check("Dr. Lee", "9999")
    assert stored(secrets_file)["dr. lee"].split("$")[1] == "512"  # a wrong PIN rewrites nothing
    assert raised.check("Dr. Lee", "1234")
    assert stored(secrets_file)["dr. lee"].split("$")[1] == "1024"
    assert raised.check("Dr. Lee", "1234")


@pytest.mark.parametrize("value", ["garbage", "bcrypt$1024$8$1$AAAA$AAAA", "scrypt$1000$8$1$AAAA$AAAA",
                                   "scrypt$1099511627776$8$1$AAAA$AAAA", "scrypt$1024$8$1$not base64!$AAAA"])
def test_an_unreadable_stored_value_matches_nothing(value):
    assert not matches(value, "1234")


def test_neither_the_pin_nor_its_hash_is_logged(pins, secrets_file, caplog):
    caplog.set_level(logging.DEBUG)
    pins.set_pin("Dr. Lee", "482916")
    pins.check("Dr. Lee", "482916")
    pins.check("Dr. Lee", "000000")
    pins.set_pin("Dr. Lee", "731905", current="482916")
    value = stored(secrets_file)["dr. lee"]
    digest = value.split("$")[-1]
    assert "482916" not in caplog.text and "731905" not in caplog.text and digest not in caplog.text
    assert "482916" not in repr(pins)


def test_encode_uses_a_fresh_salt_each_time():
    assert encode("1234", FAST) != encode("1234", FAST)
    assert encode("1234", FAST, salt=b"s" * 16) == encode("1234", FAST, salt=b"s" * 16)


def test_lock_events_are_audited_without_a_resource(session):
    record_lock(session, "locked", "locked by the user")
    record_lock(session, "unlock-failed", "wrong PIN (1 of 5)")
    record_lock(session, "unlocked", "unlocked with the PIN")
    rows = [e for e in session.cache().audit.entries() if e.action in ("locked", "unlocked", "unlock-failed")]
    assert [(e.action, e.type, e.user) for e in rows] == [
        ("locked", None, session.user.name), ("unlock-failed", None, session.user.name),
        ("unlocked", None, session.user.name)]
    assert session.cache().audit.verify() is None


def test_forget_pin_removes_a_forgotten_pin_from_the_command_line(tmp_path, monkeypatch, capsys):
    from odonto_desk.cli import main

    # The command's own secret store: the file fallback under a private config folder.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # keyring picks its backend once per process: make sure none is used, whatever was loaded before
    monkeypatch.setattr("odonto_desk.store.secrets.usable_keyring", lambda: None)
    PinStore().set_pin("Dr. Lee", "2468")
    assert PinStore().has_pin("dr.  lee")
    assert main(["forget-pin", "Dr. Lee"]) == 0
    assert "unlock by name" in capsys.readouterr().out
    assert not PinStore().has_pin("Dr. Lee")
    assert main(["forget-pin", "Dr. Lee"]) == 1
    assert "has no unlock PIN" in capsys.readouterr().err



def test_each_further_round_of_wrong_pins_waits_longer_up_to_fifteen_minutes():
    from odonto_desk.services.pins import MAX_TRIES, retry_wait

    assert [retry_wait(n, 0) for n in range(MAX_TRIES)] == [0.0] * MAX_TRIES  # the first round is free
    assert retry_wait(MAX_TRIES, 0) == 30 and retry_wait(MAX_TRIES, 10) == 20 and retry_wait(MAX_TRIES, 31) == 0
    assert retry_wait(MAX_TRIES + 1, 0) == 0  # a try was allowed after the wait: the round goes on
    assert retry_wait(2 * MAX_TRIES, 0) == 60 and retry_wait(3 * MAX_TRIES, 0) == 120
    assert retry_wait(40 * MAX_TRIES, 0) == 900  # at most 15 minutes
    # 10,000 PINs by signing in again and again: weeks, not an afternoon
    assert sum(retry_wait(r * MAX_TRIES, 0) for r in range(1, 10_000 // MAX_TRIES)) > 20 * 24 * 3600
