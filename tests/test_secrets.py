from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from policyarc.secrets import (
    KeyRing,
    KeyRingError,
    KeyRingPermissionError,
    MalformedCiphertextError,
    SecretsError,
    TamperedCiphertextError,
    UnknownKeyError,
    column_aad,
    hash_token,
    load_keyring_file,
    load_or_create_keyring,
    new_token,
    parse_keyring_spec,
    rotate_keyring,
)
from policyarc.settings import load_settings

SECRET = "atlassian-refresh-token-s3cr3t"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("POLICYARC_"):
            monkeypatch.delenv(name)


AAD = column_aad("upstream_links", "refresh_token", "row-1")


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_round_trip() -> None:
    ring = KeyRing.generate()
    token = ring.encrypt(SECRET, aad=AAD)

    assert ring.decrypt(token, aad=AAD) == SECRET
    assert SECRET not in token
    version, kid, _ = token.split(".")
    assert (version, kid) == ("v1", ring.primary)


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = KeyRing.generate()
    assert ring.encrypt(SECRET, aad=AAD) != ring.encrypt(SECRET, aad=AAD)


def test_aad_binds_a_value_to_its_row() -> None:
    ring = KeyRing.generate()
    token = ring.encrypt(SECRET, aad=column_aad("upstream_links", "refresh_token", "alice"))

    with pytest.raises(TamperedCiphertextError) as excinfo:
        ring.decrypt(token, aad=column_aad("upstream_links", "refresh_token", "mallory"))
    with pytest.raises(TamperedCiphertextError):
        ring.decrypt(token, aad=column_aad("upstream_links", "access_token", "alice"))
    assert SECRET not in str(excinfo.value) and token not in str(excinfo.value)


def test_empty_aad_is_refused() -> None:
    with pytest.raises(ValueError, match="aad"):
        KeyRing.generate().encrypt(SECRET, aad="")


def test_tampering_is_detected() -> None:
    ring = KeyRing.generate()
    token = ring.encrypt(SECRET, aad=AAD)
    head, _, body = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 0x01
    forged = f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"

    with pytest.raises(TamperedCiphertextError):
        ring.decrypt(forged, aad=AAD)


def test_a_different_key_with_the_same_id_fails_authentication() -> None:
    token = KeyRing.generate("k1").encrypt(SECRET, aad=AAD)
    with pytest.raises(TamperedCiphertextError):
        KeyRing.generate("k1").decrypt(token, aad=AAD)


@pytest.mark.parametrize("token", ["", "plain text", "v2.k1.AAAA", "v1..AAAA", "v1.k1.", "v1.k1.!!!!", "v1.k1.AAAA"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(MalformedCiphertextError):
        KeyRing.generate("k1").decrypt(token, aad=AAD)


def test_unknown_key_id() -> None:
    token = KeyRing.generate("old").encrypt(SECRET, aad=AAD)
    with pytest.raises(UnknownKeyError, match="'old'") as excinfo:
        KeyRing.generate("new").decrypt(token, aad=AAD)
    assert isinstance(excinfo.value, SecretsError)


def test_rotation_keeps_old_values_readable() -> None:
    ring = KeyRing.generate("k1")
    old = ring.encrypt(SECRET, aad=AAD)

    rotated = ring.rotated("k2")
    new = rotated.encrypt(SECRET, aad=AAD)

    assert rotated.primary == "k2" and rotated.kids == ("k2", "k1")
    assert rotated.decrypt(old, aad=AAD) == SECRET
    assert rotated.needs_rotation(old) and not rotated.needs_rotation(new)
    assert not ring.needs_rotation(old)
    with pytest.raises(KeyRingError, match="already"):
        rotated.rotated("k1")


def test_repr_hides_keys() -> None:
    key = os.urandom(32)
    ring = KeyRing({"k1": key}, "k1")
    assert _b64(key) not in repr(ring) and key.hex() not in repr(ring)
    assert repr(ring) == "KeyRing(primary='k1', kids=('k1',))"


def test_keyring_constructor_checks() -> None:
    with pytest.raises(KeyRingError, match="32 bytes"):
        KeyRing({"k1": b"short"}, "k1")
    with pytest.raises(KeyRingError, match="primary"):
        KeyRing({"k1": os.urandom(32)}, "k2")
    with pytest.raises(KeyRingError, match="key id"):
        KeyRing({"bad.id": os.urandom(32)}, "bad.id")
    with pytest.raises(KeyRingError, match="empty"):
        KeyRing({}, "k1")


# --- key ring from the environment -------------------------------------------------------------------------


def test_spec_parsing_first_entry_is_primary() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    url_safe = base64.urlsafe_b64encode(k2).rstrip(b"=").decode()
    ring = parse_keyring_spec(f" new:{_b64(k1)} , old:{url_safe}")

    assert ring.primary == "new" and ring.kids == ("new", "old")
    assert parse_keyring_spec(ring.to_spec()).kids == ring.kids
    token = KeyRing({"old": k2}, "old").encrypt(SECRET, aad=AAD)
    assert ring.decrypt(token, aad=AAD) == SECRET


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("k1", "expected kid:base64key"),
        (":QUJD", "expected kid:base64key"),
        ("bad kid:QUJD", "key id must be"),
        ("k1:%%%notbase64%%%", "not valid base64"),
        ("k1:" + base64.b64encode(b"sixteen-byte-key").decode(), "32 bytes, got 16"),
    ],
)
def test_spec_errors_are_clear_and_never_echo_key_material(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message) as excinfo:
        parse_keyring_spec(spec)
    material = spec.partition(":")[2]
    if material:
        assert material not in str(excinfo.value)


def test_spec_duplicate_ids() -> None:
    key = _b64(os.urandom(32))
    with pytest.raises(KeyRingError, match="'k1' appears twice") as excinfo:
        parse_keyring_spec(f"k1:{key},k1:{key}")
    assert key not in str(excinfo.value)


def test_environment_keyring_wins_over_the_file(tmp_path: Path) -> None:
    key = _b64(os.urandom(32))
    settings = load_settings(data_dir=tmp_path, secret_keys=f"envkey:{key}")

    ring = load_or_create_keyring(settings)

    assert ring.kids == ("envkey",)
    assert not settings.keyring_path.exists()


# --- key ring file -------------------------------------------------------------------------------------------


def test_keyring_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")

    first = load_or_create_keyring(settings)
    second = load_or_create_keyring(settings)

    assert stat.S_IMODE(settings.keyring_path.stat().st_mode) == 0o600
    assert second.kids == first.kids
    token = first.encrypt(SECRET, aad=AAD)
    assert second.decrypt(token, aad=AAD) == SECRET
    document = json.loads(settings.keyring_path.read_text())
    assert document["primary"] == first.primary


def test_keyring_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_keyring(load_settings(data_dir=tmp_path))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "keyring.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_loose_keyring_file_is_refused(tmp_path: Path, mode: int) -> None:
    settings = load_settings(data_dir=tmp_path)
    load_or_create_keyring(settings)
    settings.keyring_path.chmod(mode)

    with pytest.raises(KeyRingPermissionError, match=f"mode 0{mode:o}.*chmod 600"):
        load_or_create_keyring(settings)


def test_rotate_keyring_file(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    ring = load_or_create_keyring(settings)
    old = ring.encrypt(SECRET, aad=AAD)

    new_kid = rotate_keyring(settings.keyring_path)

    reloaded = load_or_create_keyring(settings)
    assert new_kid != ring.primary
    assert reloaded.primary == new_kid and reloaded.kids == (new_kid, ring.primary)
    assert reloaded.decrypt(old, aad=AAD) == SECRET
    assert reloaded.needs_rotation(old)
    assert stat.S_IMODE(settings.keyring_path.stat().st_mode) == 0o600
    created = json.loads(settings.keyring_path.read_text())["keys"]
    assert set(created) == {new_kid, ring.primary}
    assert not list(tmp_path.glob(".*.tmp"))


def test_rotate_requires_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="no key ring file"):
        rotate_keyring(tmp_path / "keyring.json")


def test_corrupt_keyring_file_error_does_not_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text('{"format": "policyarc-keyring", "version": 1, "keys": {"k1": {"key": "c2VjcmV0')
    path.chmod(0o600)
    with pytest.raises(KeyRingError, match="not a valid key ring file") as excinfo:
        load_keyring_file(path)
    assert "c2VjcmV0" not in str(excinfo.value)


# --- gateway tokens --------------------------------------------------------------------------------------------


def test_new_token_and_hash() -> None:
    token = new_token("pa_at_")
    assert token.startswith("pa_at_") and len(token) >= 6 + 43
    assert new_token("pa_at_") != token
    digest = hash_token(token)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == hash_token(token) != hash_token(token + "x")
