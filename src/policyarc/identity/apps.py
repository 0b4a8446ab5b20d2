"""The Atlassian OAuth app an environment is configured with, read from the store (secret decrypted)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.identity.atlassian import AtlassianApp
from policyarc.secrets import KeyRing, column_aad
from policyarc.store.models import IdentityProvider

ATLASSIAN = "atlassian"


async def load_atlassian_app(db: AsyncSession, keyring: KeyRing, environment_id: str) -> AtlassianApp | None:
    """None when the environment has no Atlassian IdP; raises secrets.DecryptionError when the key ring
    cannot open the stored client secret."""
    row = await db.scalar(
        select(IdentityProvider).where(
            IdentityProvider.environment_id == environment_id, IdentityProvider.kind == ATLASSIAN
        )
    )
    if row is None:
        return None
    secret = keyring.decrypt(row.client_secret_enc, aad=column_aad("identity_providers", "client_secret_enc", row.id))
    scopes = tuple(row.scopes.split())
    return AtlassianApp(row.client_id, secret, scopes) if scopes else AtlassianApp(row.client_id, secret)
