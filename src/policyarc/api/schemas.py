"""Request and response bodies of the admin API. The OpenAPI document is generated from these.

Views the services return (`EnvironmentView`, `IdpView`, ...) are response bodies as they are; this module
adds the request bodies, query parameters and list envelopes. Request models forbid unknown fields, so a
typo (`clientId`) is an error rather than silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from policyarc.services import AuditRecordView, ChangeView, ConnectorView, EnvironmentView, PolicyView
from policyarc.services.audit import MAX_LIMIT


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentCreate(_Request):
    name: str = Field(min_length=1, max_length=63, examples=["staging"])


class IdpUpdate(_Request):
    """Omit `client_secret` to keep the stored one; omit `scopes` to keep the stored ones (Atlassian's
    defaults on first set-up)."""

    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr | None = Field(default=None, max_length=1024, json_schema_extra={"writeOnly": True})
    scopes: list[str] | None = Field(default=None, max_length=64)


class ConnectorCreate(_Request):
    """`cloud_id` is looked up from the site when omitted."""

    template: Literal["jira-user"] = "jira-user"
    site: str = Field(min_length=1, max_length=200, examples=["acme"])
    cloud_id: str | None = Field(default=None, max_length=64)


class SiteLookup(_Request):
    site: str = Field(min_length=1, max_length=200, examples=["acme"])


class PolicyText(_Request):
    text: str = Field(max_length=256 * 1024, description="Cedar policy text.")


class ValidationReport(BaseModel):
    valid: bool
    errors: list[str] = Field(description="Cedar's messages, one per problem; empty when valid.")


class AuditQuery(_Request):
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    since_id: int | None = Field(default=None, ge=0, description="Read forward from this record id (to follow).")
    user_id: str | None = Field(default=None, max_length=64)
    tool: str | None = Field(default=None, max_length=128)
    decision: str | None = Field(default=None, max_length=16)


class ChangesQuery(_Request):
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    before_id: int | None = Field(default=None, ge=1, description="Page back: changes older than this id.")


class EnvironmentList(BaseModel):
    items: list[EnvironmentView]


class ConnectorList(BaseModel):
    items: list[ConnectorView]


class AuditPage(BaseModel):
    items: list[AuditRecordView]
    last_id: int | None = Field(description="Pass as since_id to read what came after.")


class ChangeList(BaseModel):
    items: list[ChangeView]


class PolicyVersionList(BaseModel):
    items: list[PolicyView] = Field(description="Newest first, at most 100.")


class AccessChangeItem(BaseModel):
    user_id: str
    email: str
    client_id: str
    client_name: str
    scopes: list[str] = Field(description="The scopes gained (in widened) or lost (in narrowed).")


class PolicyPreview(BaseModel):
    """Whose access a draft would widen or narrow against the policy in force, over the most recently seen
    users and the registered clients (bounded: see users_checked and clients_checked)."""

    valid: bool
    errors: list[str] = Field(description="Cedar's messages when the draft would not install; then nothing else.")
    compared_with_version: int | None
    users_checked: int
    clients_checked: int
    widened: list[AccessChangeItem]
    narrowed: list[AccessChangeItem]
