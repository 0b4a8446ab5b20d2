"""Who is calling: what a valid gateway access token stands for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str
    account_id: str  # the user's subject at the identity provider (Atlassian account id)
    client_id: str
    client_name: str
    environment_id: str
    scopes: frozenset[str]  # scopes the gateway token carries (consented and granted at issue time)
    expires_at: float
