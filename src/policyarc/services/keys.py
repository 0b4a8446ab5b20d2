"""Moving stored secrets to the key ring's current primary key (after `policyarc keys rotate`).

Rotation itself only adds a key (`secrets.rotate_keyring`): old values keep decrypting, and each moves to
the new key when it is next rewritten (an IdP secret saved again, an Atlassian token refreshed). This sweep
moves the rest at once. Run it after every instance has restarted with the new ring: an instance still on
the old ring cannot read a value sealed with a key it has never seen.

Each value is rewritten with a compare-and-set on its old ciphertext, so a refresh that lands during the
sweep wins and the sweep skips that value. `upstream_links.version` is left alone: the plaintext is the same,
so the vault's caches stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.secrets import DecryptionError, KeyRing, column_aad
from policyarc.store.models import IdentityProvider, UpstreamLink


@dataclass
class SweepResult:
    rewritten: int = 0
    current: int = 0  # already under the primary key
    unreadable: int = 0  # sealed with a key no longer in the ring, or damaged: left as they are


async def reencrypt_secrets(session: AsyncSession, keyring: KeyRing) -> SweepResult:
    """Re-encrypt every stored secret not under `keyring.primary`. The caller commits."""
    result = SweepResult()
    for idp in list(await session.scalars(select(IdentityProvider))):
        new = _reseal(keyring, idp.client_secret_enc, "identity_providers", "client_secret_enc", idp.id, result)
        if new is not None:
            await session.execute(
                update(IdentityProvider)
                .where(IdentityProvider.id == idp.id, IdentityProvider.client_secret_enc == idp.client_secret_enc)
                .values(client_secret_enc=new)
                .execution_options(synchronize_session=False)
            )
    rows = (
        await session.execute(select(UpstreamLink.id, UpstreamLink.access_token_enc, UpstreamLink.refresh_token_enc))
    ).all()
    for link_id, access_enc, refresh_enc in rows:
        for column, value in (("access_token_enc", access_enc), ("refresh_token_enc", refresh_enc)):
            if value is None:
                continue
            new = _reseal(keyring, value, "upstream_links", column, link_id, result)
            if new is not None:
                field = getattr(UpstreamLink, column)
                await session.execute(
                    update(UpstreamLink)
                    .where(UpstreamLink.id == link_id, field == value)
                    .values({column: new})
                    .execution_options(synchronize_session=False)
                )
    return result


def _reseal(keyring: KeyRing, value: str, table: str, column: str, row_id: str, result: SweepResult) -> str | None:
    aad = column_aad(table, column, row_id)
    try:
        if not keyring.needs_rotation(value):
            result.current += 1
            return None
        plaintext = keyring.decrypt(value, aad=aad)
    except DecryptionError:
        result.unreadable += 1
        return None
    result.rewritten += 1
    return keyring.encrypt(plaintext, aad=aad)
