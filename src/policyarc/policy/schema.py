"""The Cedar schema policies are written against, and the request and entities each decision sends.

One question is asked of the policy: may this signed-in user (`principal`, a `PolicyArc::User`), through this
MCP client (`context.client`, a `PolicyArc::Client`), hold this gateway scope (`resource`, a
`PolicyArc::Scope`)? The action is always `PolicyArc::Action::"use_scope"`.

Scopes are an enumerated entity type built from the scope registry passed in, so a policy naming a scope no
connector offers (`jira:isues:read`) fails validation instead of silently granting nothing. The schema is
built as Cedar JSON rather than text so that no registry string is ever spliced into Cedar syntax.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import cedarpy

if TYPE_CHECKING:
    from policyarc.caller import Caller

NAMESPACE = "PolicyArc"
USER_TYPE = f"{NAMESPACE}::User"
CLIENT_TYPE = f"{NAMESPACE}::Client"
SCOPE_TYPE = f"{NAMESPACE}::Scope"
ACTION_TYPE = f"{NAMESPACE}::Action"
ACTION_ID = "use_scope"


def canonical_email(email: str) -> str:
    """Emails compare case-insensitively: the IdP and the admin's form may disagree on case."""
    return email.lower()


def email_domain(email: str) -> str:
    """The part after the last `@`, lower-cased; empty when there is no `@` (matches no domain rule)."""
    _, at, domain = email.rpartition("@")
    return domain.lower() if at else ""


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user a decision is about. `email` is as the IdP reported it."""

    user_id: str
    email: str

    @classmethod
    def of(cls, caller: Caller) -> Principal:
        return cls(user_id=caller.user_id, email=caller.email)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The MCP client a decision is about. `name` is chosen by the client at registration: not a trust anchor."""

    client_id: str
    name: str = ""

    @classmethod
    def of(cls, caller: Caller) -> ClientInfo:
        return cls(client_id=caller.client_id, name=caller.client_name)


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The registry as a sorted tuple of distinct scopes; raises ValueError when it is empty."""
    result = tuple(sorted(set(scopes)))
    if not result:
        raise ValueError("the scope registry is empty: a policy needs at least one scope to talk about")
    return result


def schema_json(scopes: Iterable[str]) -> dict[str, Any]:
    """The schema in Cedar's JSON schema format."""
    return {
        NAMESPACE: {
            "entityTypes": {
                "User": {
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "email": {"type": "String"},
                            "domain": {"type": "String"},
                        },
                    }
                },
                "Client": {
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "client_id": {"type": "String"},
                            "name": {"type": "String"},
                        },
                    }
                },
                "Scope": {"enum": list(normalize_scopes(scopes))},
            },
            "actions": {
                ACTION_ID: {
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Scope"],
                        "context": {
                            "type": "Record",
                            "attributes": {"client": {"type": "Entity", "name": "Client"}},
                        },
                    }
                }
            },
        }
    }


@lru_cache(maxsize=16)
def _schema(scopes: tuple[str, ...]) -> cedarpy.Schema:
    return cedarpy.Schema.from_json_str(json.dumps(schema_json(scopes)))


def schema_for(scopes: Iterable[str]) -> cedarpy.Schema:
    """A parsed schema handle for this registry (cached: parsing a schema costs milliseconds)."""
    return _schema(normalize_scopes(scopes))


def schema_text(scopes: Iterable[str]) -> str:
    """The schema in Cedar's human-readable syntax, for the console to show beside the policy."""
    return str(schema_for(scopes))


def request_for(user_id: str, client_id: str, scope: str) -> dict[str, Any]:
    """The Cedar request for one decision, in the dict form (entity ids are never parsed as Cedar syntax)."""
    return {
        "principal": {"type": USER_TYPE, "id": user_id},
        "action": {"type": ACTION_TYPE, "id": ACTION_ID},
        "resource": {"type": SCOPE_TYPE, "id": scope},
        "context": {"client": {"__entity": {"type": CLIENT_TYPE, "id": client_id}}},
    }


def entities_for(principal: Principal, client: ClientInfo) -> list[dict[str, Any]]:
    """The user and client entities, with every attribute the schema declares."""
    return [
        {
            "uid": {"type": USER_TYPE, "id": principal.user_id},
            "attrs": {"email": canonical_email(principal.email), "domain": email_domain(principal.email)},
            "parents": [],
        },
        {
            "uid": {"type": CLIENT_TYPE, "id": client.client_id},
            "attrs": {"client_id": client.client_id, "name": client.name},
            "parents": [],
        },
    ]
