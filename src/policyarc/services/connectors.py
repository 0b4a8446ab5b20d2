"""Connectors of an environment. For now one template: Jira (user passthrough), one per environment.

The site name is validated before it goes anywhere near a URL (`template.normalise_site`); the cloud ID is
either given or looked up at `{site}.atlassian.net/_edge/tenant_info` through the injected httpx client.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.connectors.jira.template import (
    TEMPLATE_ID,
    JiraUserTemplate,
    SiteLookupError,
    normalise_site,
    resolve_cloud_id,
    validate_cloud_id,
)
from policyarc.services.errors import Conflict, InvalidInput, NotFound, ServiceError, Unavailable
from policyarc.store.models import Connector, Environment, new_id, utcnow

JIRA_SLUG = "jira"
TEMPLATES = {TEMPLATE_ID: JiraUserTemplate()}


class ConnectorView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    template: str
    template_name: str
    slug: str
    site: str | None
    cloud_id: str | None
    created_at: datetime


class ResolvedSite(BaseModel):
    model_config = ConfigDict(frozen=True)

    site: str
    cloud_id: str


async def resolve_site(http: httpx.AsyncClient, site_url_template: str, site: str) -> ResolvedSite:
    """Validate a site name and look up its cloud ID. InvalidInput / NotFound / Unavailable say what to fix."""
    name = _site(site)
    try:
        cloud_id = await resolve_cloud_id(http, site_url_template, name)
    except SiteLookupError as exc:
        raise _lookup_error(exc) from exc
    return ResolvedSite(site=name, cloud_id=cloud_id)


async def add_jira_connector(
    session: AsyncSession,
    environment: Environment,
    *,
    site: str,
    cloud_id: str | None,
    http: httpx.AsyncClient,
    site_url_template: str,
    actor: str,
) -> ConnectorView:
    """Add the environment's Jira (user passthrough) connector. Conflict when it already has one.
    The caller commits."""
    name = _site(site)
    existing = await session.scalar(
        select(Connector).where(Connector.environment_id == environment.id, Connector.template == TEMPLATE_ID)
    )
    if existing is not None:
        raise Conflict(
            "connector_exists",
            f"Environment {environment.name} already has a Jira connector (site {existing.site}); "
            "remove it first. One Jira connector per environment for now.",
        )
    if cloud_id is not None:
        try:
            resolved_id = validate_cloud_id(cloud_id)
        except SiteLookupError as exc:
            raise _lookup_error(exc) from exc
    else:
        resolved_id = (await resolve_site(http, site_url_template, name)).cloud_id
    row = Connector(
        id=new_id(),
        environment_id=environment.id,
        template=TEMPLATE_ID,
        slug=JIRA_SLUG,
        site=name,
        cloud_id=resolved_id,
        settings={},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await record_change(
        session,
        actor,
        "connector.create",
        f"environment:{environment.name}/connector:{row.id}",
        {"template": TEMPLATE_ID, "site": name, "cloud_id": resolved_id, "cloud_id_given": cloud_id is not None},
    )
    return _view(row)


async def list_connectors(session: AsyncSession, environment: Environment) -> list[ConnectorView]:
    rows = await session.scalars(
        select(Connector).where(Connector.environment_id == environment.id).order_by(Connector.created_at)
    )
    return [_view(row) for row in rows]


async def remove_connector(session: AsyncSession, environment: Environment, ref: str, *, actor: str) -> ConnectorView:
    """Remove a connector by id or slug; NotFound otherwise. The caller commits."""
    row = await session.scalar(
        select(Connector).where(
            Connector.environment_id == environment.id, or_(Connector.id == ref, Connector.slug == ref)
        )
    )
    if row is None:
        raise NotFound("connector_not_found", f"Environment {environment.name} has no connector {ref[:64]!r}.")
    view = _view(row)
    await session.delete(row)
    await session.flush()
    await record_change(
        session,
        actor,
        "connector.delete",
        f"environment:{environment.name}/connector:{row.id}",
        {"template": row.template, "site": row.site},
    )
    return view


def _site(site: str) -> str:
    try:
        return normalise_site(site)
    except SiteLookupError as exc:
        raise _lookup_error(exc) from exc


def _lookup_error(exc: SiteLookupError) -> ServiceError:
    if exc.code == "site_not_found":
        return InvalidInput(exc.code, exc.message)  # the admin typed a name that does not exist: fix the input
    if exc.code == "site_unreachable":
        return Unavailable(exc.code, exc.message)
    return InvalidInput(exc.code, exc.message)


def _view(row: Connector) -> ConnectorView:
    template = TEMPLATES.get(row.template)
    return ConnectorView(
        id=row.id,
        template=row.template,
        template_name=template.name if template else row.template,
        slug=row.slug,
        site=row.site,
        cloud_id=row.cloud_id,
        created_at=row.created_at,
    )
