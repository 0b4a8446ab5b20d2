"""Encryption at rest (AES-256-GCM with a key ring) and the gateway's own opaque tokens.

A stored secret is a self-describing text token, `v1.<kid>.<base64url(nonce | ciphertext+tag)>`: the key id
says which key of the ring opens it, so adding a new primary key never forces anyone to sign in again. Every
value is encrypted with associated data (`aad`) naming where it lives (see `column_aad`), so a ciphertext
copied into another row or column fails to decrypt instead of handing one user's token to another.

Gateway tokens (access, refresh, codes, sessions) are random strings from `new_token` and are stored only as
`hash_token` digests: they carry 256 bits of entropy, so a plain SHA-256 is enough and keeps lookups by index.

Errors (no message ever contains key material, plaintext or the token itself):

    SecretsError
     ├── KeyRingError                  the ring cannot be built or loaded (bad spec, bad file)
     │    └── KeyRingPermissionError   the key ring file is readable by group or others
     └── DecryptionError               a stored value cannot be read back
          ├── MalformedCiphertextError not a v1 token
          ├── UnknownKeyError          its key id is not in the ring
          └── TamperedCiphertextError  authentication failed: modified, wrong key, or moved (aad mismatch)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets as stdlib_secrets
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "KeyRing",
    "KeyRingError",
    "KeyRingPermissionError",
    "KeyRingSettings",
    "MalformedCiphertextError",
    "SecretsError",
    "TamperedCiphertextError",
    "UnknownKeyError",
    "column_aad",
    "hash_token",
    "load_keyring_file",
    "load_or_create_keyring",
    "new_token",
    "parse_keyring_spec",
    "rotate_keyring",
]

logger = logging.getLogger(__name__)

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per value (safe far beyond any realistic count per key)
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Domain separation: a v1 ciphertext authenticates its format version along with the caller's aad.
_AAD_PREFIX = b"policyarc/secret/v1\x00"
_FILE_FORMAT = "policyarc-keyring"


class SecretsError(Exception):
    """Base class for encryption-at-rest errors."""


class KeyRingError(SecretsError):
    """The key ring cannot be built or loaded."""


class KeyRingPermissionError(KeyRingError):
    """The key ring file is readable by group or others."""


class DecryptionError(SecretsError):
    """A stored value cannot be decrypted."""


class MalformedCiphertextError(DecryptionError):
    """The value is not a v1 ciphertext token."""


class UnknownKeyError(DecryptionError):
    """The value names a key id that is not in the ring."""


class TamperedCiphertextError(DecryptionError):
    """GCM authentication failed: the value was modified, or belongs to another row or column."""


class KeyRing:
    """A set of AES-256 keys by id; `primary` encrypts, any key decrypts."""

    __slots__ = ("_aeads", "_keys", "_primary")

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise KeyRingError("the key ring is empty")
        for kid, key in keys.items():
            _check_kid(kid)
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")
        if primary not in keys:
            raise KeyRingError(f"primary key id {primary!r} is not in the ring")
        self._keys = dict(keys)
        self._primary = primary
        self._aeads = {kid: AESGCM(key) for kid, key in self._keys.items()}

    @classmethod
    def generate(cls, kid: str | None = None) -> KeyRing:
        """A ring with one fresh random key."""
        kid = kid or _new_kid(())
        return cls({kid: os.urandom(KEY_BYTES)}, kid)

    @property
    def primary(self) -> str:
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids, primary first."""
        return (self._primary, *(kid for kid in self._keys if kid != self._primary))

    def rotated(self, kid: str | None = None) -> KeyRing:
        """A copy with a fresh key as primary; the old keys stay so existing values still decrypt."""
        kid = kid or _new_kid(self._keys)
        if kid in self._keys:
            raise KeyRingError(f"key id {kid!r} is already in the ring")
        return KeyRing({kid: os.urandom(KEY_BYTES), **self._keys}, kid)

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        """Encrypt with the primary key, bound to `aad` (where the value is stored, see `column_aad`)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self._primary].encrypt(nonce, plaintext.encode(), _aad_bytes(aad))
        return f"{VERSION}.{self._primary}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, *, aad: str) -> str:
        """Decrypt a value made by `encrypt` with any key in the ring and the same `aad`."""
        kid, blob = _parse(token)
        aead = self._aeads.get(kid)
        if aead is None:
            raise UnknownKeyError(f"stored value is encrypted with key {kid!r}, which is not in the key ring")
        try:
            plaintext = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad_bytes(aad))
        except InvalidTag:
            raise TamperedCiphertextError(
                f"stored value (key {kid!r}) failed authentication: modified, or bound to another row"
            ) from None
        return plaintext.decode()

    def needs_rotation(self, token: str) -> bool:
        """Whether the value was encrypted with a key other than the current primary."""
        kid, _ = _parse(token)
        return kid != self._primary

    def to_spec(self) -> str:
        """The ring as a `POLICYARC_SECRET_KEYS` value (primary first). Contains the keys: handle as a secret."""
        return ",".join(f"{kid}:{_b64encode(self._key(kid))}" for kid in self.kids)

    def _key(self, kid: str) -> bytes:
        return self._keys[kid]

    def __repr__(self) -> str:
        return f"KeyRing(primary={self._primary!r}, kids={self.kids!r})"


def column_aad(table: str, column: str, row_id: str) -> str:
    """The associated data for a value stored in `table.column` of row `row_id`."""
    return f"{table}.{column}:{row_id}"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a gateway token: what the store keeps and looks up."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A fresh opaque token with 256 random bits, e.g. `new_token("pa_at_")`."""
    return prefix + stdlib_secrets.token_urlsafe(32)


def parse_keyring_spec(spec: str, *, source: str = "POLICYARC_SECRET_KEYS") -> KeyRing:
    """Parse `kid:base64key[,kid:base64key...]` (first entry primary) as given in `POLICYARC_SECRET_KEYS`.

    `source` names the spec's origin in error messages.
    """
    keys: dict[str, bytes] = {}
    entries = [entry.strip() for entry in spec.split(",")]
    if not any(entries):
        raise KeyRingError(f"{source} is empty; expected kid:base64key[,kid:base64key...]".strip())
    for position, entry in enumerate(entries, start=1):
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        where = f"{source} entry {position}".strip()
        if not sep or not kid:
            raise KeyRingError(f"{where}: expected kid:base64key")
        if not _KID.match(kid):
            raise KeyRingError(f"{where}: key id must be 1-32 of A-Z a-z 0-9 _ -")
        if kid in keys:
            raise KeyRingError(f"{where}: key id {kid!r} appears twice")
        key = _b64decode(encoded.strip())
        if key is None:
            raise KeyRingError(f"{where} ({kid!r}): the key is not valid base64")
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"{where} ({kid!r}): the key must be {KEY_BYTES} bytes, got {len(key)}")
        keys[kid] = key
    return KeyRing(keys, next(iter(keys)))


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class KeyRingSettings(Protocol):
    """What `load_or_create_keyring` reads; `policyarc.settings.Settings` has both (no import back to it)."""

    @property
    def keyring_path(self) -> Path: ...

    @property
    def secret_keys(self) -> _Secret | None: ...


def load_or_create_keyring(settings: KeyRingSettings) -> KeyRing:
    """The ring from `POLICYARC_SECRET_KEYS` if set, else from `{data_dir}/keyring.json`, created on first use.

    Raises `KeyRingPermissionError` when an existing file is readable by group or others.
    """
    path = settings.keyring_path
    if settings.secret_keys is not None:
        if path.exists():
            logger.warning(
                "POLICYARC_SECRET_KEYS is set, so %s is ignored; values encrypted with its keys are unreadable "
                "unless those keys are also in POLICYARC_SECRET_KEYS",
                path,
            )
        return parse_keyring_spec(settings.secret_keys.get_secret_value())
    if path.exists():
        return load_keyring_file(path)
    return _create_keyring_file(path)


def load_keyring_file(path: Path) -> KeyRing:
    """Read a key ring file, refusing one whose mode lets group or others read it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyRingError(f"no key ring file at {path}") from None
    if mode & 0o077:
        raise KeyRingPermissionError(
            f"key ring file {path} has mode {mode & 0o777:04o}; it must be readable by its owner only: "
            f"run `chmod 600 {path}`"
        )
    try:
        document = json.loads(path.read_text())
        if document.get("format") != _FILE_FORMAT or document.get("version") != 1:
            raise KeyRingError(f"{path} is not a version 1 PolicyArc key ring file")
        keys: dict[str, bytes] = {}
        for kid, entry in document["keys"].items():
            key = _b64decode(entry["key"])
            if key is None:
                raise KeyRingError(f"{path}: key {kid!r} is not valid base64")
            keys[kid] = key
        return KeyRing(keys, document["primary"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # json errors quote the document around the fault: say where, never what.
        raise KeyRingError(f"{path} is not a valid key ring file ({type(exc).__name__})") from None


def rotate_keyring(path: Path) -> str:
    """Add a fresh primary key to the ring file at `path`; returns its key id.

    Old keys stay, so stored values keep decrypting; they move to the new key as they are rewritten (see
    `KeyRing.needs_rotation`). Running instances keep the ring they loaded: restart them after rotating.
    """
    with _locked(path):
        ring = load_keyring_file(path).rotated()
        _write_file(path, ring, replace=True)
    logger.info("key ring %s rotated; new primary key %s", path, ring.primary)
    return ring.primary


def _create_keyring_file(path: Path) -> KeyRing:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path):
        if path.exists():  # another instance won the race
            return load_keyring_file(path)
        ring = KeyRing.generate()
        _write_file(path, ring, replace=False)
    logger.info("created key ring %s with key %s", path, ring.primary)
    return ring


def _write_file(path: Path, ring: KeyRing, *, replace: bool) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    created = _created_at(path) if replace else {}
    document: dict[str, Any] = {
        "format": _FILE_FORMAT,
        "version": 1,
        "primary": ring.primary,
        "keys": {kid: {"key": _b64encode(ring._key(kid)), "created_at": created.get(kid, now)} for kid in ring.kids},
    }
    # Write a private temporary file, then move it into place in one step: readers never see half a ring.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have cleared owner bits
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _created_at(path: Path) -> dict[str, str]:
    try:
        keys = json.loads(path.read_text())["keys"]
        return {kid: str(entry.get("created_at")) for kid, entry in keys.items() if entry.get("created_at")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Serialises creation and rotation across processes on this host; without it two concurrent rotations
    # could each drop the other's new key, leaving values nobody can decrypt.
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_kid(taken: Iterable[str]) -> str:
    # Date-stamped so an operator can tell keys apart at a glance; the random tail avoids same-day clashes.
    existing = set(taken)
    while True:
        kid = f"k{datetime.now(UTC):%Y%m%d}-{stdlib_secrets.token_hex(3)}"
        if kid not in existing:
            return kid


def _check_kid(kid: str) -> None:
    if not isinstance(kid, str) or not _KID.match(kid):
        raise KeyRingError(f"key id {kid!r} must be 1-32 of A-Z a-z 0-9 _ -")


def _parse(token: str) -> tuple[str, bytes]:
    version, _, rest = token.partition(".")
    kid, _, encoded = rest.partition(".")
    if version != VERSION or not _KID.match(kid) or not encoded:
        raise MalformedCiphertextError("stored value is not a v1 ciphertext")
    blob = _b64decode(encoded)
    if blob is None or len(blob) < NONCE_BYTES + 16:  # nonce plus the 16-byte GCM tag at least
        raise MalformedCiphertextError(f"stored value (key {kid!r}) is not a well-formed v1 ciphertext")
    return kid, blob


def _aad_bytes(aad: str) -> bytes:
    if not aad:
        raise ValueError("aad must name where the value is stored (see column_aad)")
    return _AAD_PREFIX + aad.encode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64."""
    normalised = text.strip().replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        return None
