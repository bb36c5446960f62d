"""Unlock PINs: a short secret of one user's, on one workstation, that unlocks the locked window.

Opt-in: a user without a PIN unlocks as before (by name). Only a salted scrypt hash is kept, in
the :class:`~odonto_desk.store.secrets.SecretStore` (OS keyring, else a private file), under the
user's name normalised (case and spaces do not make another user). The stored value names its
scrypt parameters, so they can be raised later: a check that succeeds on older parameters stores
the PIN again with the current ones.

A PIN is 4 to 12 digits, too few to resist a search of a stolen hash for long: the hash keeps the
PIN from being read off the disk, and what stops guessing at the desk is the lock's limit of
:data:`MAX_TRIES` wrong PINs in a row, after which it signs the user out.

Neither a PIN nor its hash ever reaches a log line, an exception message or a repr. Plain blocking
Python, no Qt; the secret store (and with it the keyring) is imported when first used, since a
cold start without a PIN never needs it.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from odonto_desk.services.session import Session
    from odonto_desk.store.secrets import SecretStore

log = logging.getLogger(__name__)

SECRET_SERVICE = "unlock-pin"  # the SecretStore service the hashes are kept under
MAX_TRIES = 5  # wrong PINs in a row before the lock signs the user out
FIRST_WAIT_S, LONGEST_WAIT_S = 30.0, 900.0  # after each further round of MAX_TRIES wrong PINs
MIN_DIGITS, MAX_DIGITS = 4, 12
FORMAT_MESSAGE = f"A PIN is {MIN_DIGITS} to {MAX_DIGITS} digits."
SALT_BYTES = 16
KEY_BYTES = 32
SCHEME = "scrypt"

LockAction = Literal["locked", "unlocked", "unlock-failed"]


class PinError(ValueError):
    """A PIN that cannot be set or removed; the message is written for the user."""


class WrongPin(PinError):
    """The current PIN given to change or remove a PIN is not the stored one."""


@dataclass(frozen=True)
class ScryptParams:
    """scrypt's cost: ``n`` (CPU and memory, a power of two), block size ``r``, parallelism ``p``.

    2¹⁵ × 8 takes 32 MiB and about 0.1 s per check on a desktop: unnoticed at the lock screen.
    """

    n: int = 2**15
    r: int = 8
    p: int = 1

    @property
    def plausible(self) -> bool:
        """Within what this app would ever choose: a tampered value must not make a check take all memory."""
        return 2 <= self.n <= 2**20 and self.n & (self.n - 1) == 0 and 1 <= self.r <= 32 and 1 <= self.p <= 16

    def derive(self, pin: str, salt: bytes) -> bytes:
        memory = 128 * self.r * (self.n + self.p + 2)  # what scrypt needs, plus room (OpenSSL's default cap is 32 MiB)
        import hashlib  # here, like secrets and hmac: a start without a PIN hashes nothing

        return hashlib.scrypt(pin.encode(), salt=salt, n=self.n, r=self.r, p=self.p,
                              maxmem=memory + 1024 * 1024, dklen=KEY_BYTES)


DEFAULT_PARAMS = ScryptParams()


def normalise(user: str) -> str:
    """The key a user's PIN is kept under: "Dr.  Lee" and "dr. lee" are one user."""
    return " ".join(user.split()).casefold()


def validate(pin: str) -> str:
    """The PIN if it is 4–12 ASCII digits; :class:`PinError` otherwise."""
    if not (pin.isascii() and pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS):
        raise PinError(FORMAT_MESSAGE)
    return pin


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode(pin: str, params: ScryptParams = DEFAULT_PARAMS, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): the one value stored per user."""
    import secrets  # here, not at start: a start without a PIN hashes nothing

    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    return "$".join((SCHEME, str(params.n), str(params.r), str(params.p), _b64(salt),
                     _b64(params.derive(pin, salt))))


def _decode(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        params = ScryptParams(int(n), int(r), int(p))
        if scheme != SCHEME or not params.plausible:
            return None
        return params, base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except ValueError:  # wrong field count, a non-number, bad base64 (binascii.Error is a ValueError)
        return None


def matches(stored: str, pin: str) -> bool:
    """Whether ``pin`` hashes to ``stored``, compared in constant time."""
    import hmac

    decoded = _decode(stored)
    if decoded is None:
        log.warning("a stored unlock PIN is not in a format this version reads; it matches nothing")
        return False
    params, salt, digest = decoded
    try:
        candidate = params.derive(pin, salt)
    except ValueError:  # parameters this computer's scrypt refuses (memory)
        log.warning("a stored unlock PIN has scrypt parameters this computer refuses; it matches nothing")
        return False
    return hmac.compare_digest(candidate, digest)


class PinStore:
    """The unlock PINs of this workstation's users. Blocking (keyring or file); safe from any thread.

    ``secrets`` is injectable (tests: a file-backed store in a temporary folder); by default the
    OS keyring or the private file, built on first use.
    """

    def __init__(self, secrets: SecretStore | None = None, *, params: ScryptParams = DEFAULT_PARAMS) -> None:
        self._store = secrets
        self.params = params

    def __repr__(self) -> str:
        return f"PinStore({self._store!r})"

    def _secrets(self) -> SecretStore:
        if self._store is None:
            from odonto_desk.store.secrets import SecretStore

            self._store = SecretStore()
        return self._store

    def _load(self, user: str) -> str | None:
        return self._secrets().load(SECRET_SERVICE, normalise(user))

    def has_pin(self, user: str) -> bool:
        return bool(self._load(user))

    def check(self, user: str, pin: str) -> bool:
        """Whether ``pin`` is the user's PIN (False when they have none)."""
        stored = self._load(user)
        if not stored or not matches(stored, pin):
            return False
        decoded = _decode(stored)
        if decoded is not None and decoded[0] != self.params:  # kept with other parameters: store it anew
            try:
                self._secrets().store(SECRET_SERVICE, normalise(user), encode(pin, self.params))
            except Exception as exc:  # the right PIN still unlocks; the upgrade is tried again next time
                log.warning("an unlock PIN could not be stored with new parameters: %s", type(exc).__name__)
        return True

    def set_pin(self, user: str, pin: str, *, current: str | None = None) -> None:
        """Set or change the user's PIN; changing one needs the ``current`` PIN."""
        validate(pin)
        if self.has_pin(user) and not (current is not None and self.check(user, current)):
            raise WrongPin("The current PIN is wrong.")
        self._secrets().store(SECRET_SERVICE, normalise(user), encode(pin, self.params))

    def clear(self, user: str, pin: str) -> None:
        """Remove the user's PIN (they unlock by name again); needs the current PIN."""
        if not self.check(user, pin):
            raise WrongPin("The current PIN is wrong.")
        self._secrets().delete(SECRET_SERVICE, normalise(user))


    def forget(self, user: str) -> bool:
        """Remove the user's PIN without it (a forgotten PIN: ``odonto-desk forget-pin``); False when
        there was none. Whoever can run this can read this account's secret store anyway."""
        return self._secrets().delete(SECRET_SERVICE, normalise(user))


def retry_wait(failures: int, since_last: float) -> float:
    """Seconds to wait before the next PIN may be tried, after ``failures`` wrong PINs in a row (kept
    across locks, sign-ins and starts) the last of which was ``since_last`` seconds ago.

    Each round of :data:`MAX_TRIES` wrong PINs signs the user out; from then on, each new round waits
    30 s, then 60 s, 120 s … up to 15 minutes, so a 4-digit PIN cannot be found by signing in again
    and again (10,000 PINs would take weeks).
    """
    rounds = failures // MAX_TRIES
    if rounds == 0 or failures % MAX_TRIES:
        return 0.0
    wait = min(FIRST_WAIT_S * 2 ** min(rounds - 1, 16), LONGEST_WAIT_S)
    return max(0.0, wait - max(0.0, since_last))


def record_lock(session: Session, action: LockAction, summary: str) -> None:
    """One audit row for the lock: who locked, unlocked or failed to, and how (never the PIN)."""
    user = session.user
    session.cache().audit.record(user.name, user.role.value, action, None, None, None, summary)
