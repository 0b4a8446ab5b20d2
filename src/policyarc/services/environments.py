"""Environments: the unit an IdP, connectors and a policy belong to. There is a `default` one.

A new environment starts with the default policy (version 1), so the gateway never serves an environment
without one. Each environment is its own MCP resource (RFC 8707): the default one at `{public_url}/mcp`, another
one NAME at `{public_url}/mcp/NAME` (`mcp_url`); gateway tokens are bound to it.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.policy import DEFAULT_POLICY
from policyarc.services.errors import Conflict, InvalidInput, NotFound
from policyarc.store.models import Connector, Environment, IdentityProvider, Policy, new_id, utcnow

DEFAULT_ENVIRONMENT = "default"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SYSTEM_ACTOR = "system"


def mcp_url(public_url: str, environment_name: str) -> str:
    """The MCP URL (and RFC 8707 resource) of an environment: `/mcp` for the default one, `/mcp/NAME` otherwise."""
    base = f"{public_url.rstrip('/')}/mcp"
    return base if environment_name == DEFAULT_ENVIRONMENT else f"{base}/{environment_name}"


def resource_metadata_url(public_url: str, environment_name: str) -> str:
    """RFC 9728 section 3.1: the well-known segment goes between the host and the resource's path."""
    path = "/mcp" if environment_name == DEFAULT_ENVIRONMENT else f"/mcp/{environment_name}"
    return f"{public_url.rstrip('/')}/.well-known/oauth-protected-resource{path}"


class EnvironmentView(BaseModel):
    """An environment as the API and CLI show it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    mcp_url: str
    created_at: datetime
    policy_version: int | None
    idp_configured: bool
    connectors: int


async def ensure_environment(session: AsyncSession, name: str = DEFAULT_ENVIRONMENT) -> Environment:
    """The environment called `name`, created (with the default policy) when missing. Safe to race:
    instances starting together end up with one row. The caller commits."""
    existing = await session.scalar(select(Environment).where(Environment.name == name))
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            return await _create(session, name)
    except IntegrityError:  # another instance created it between our select and insert
        found = await session.scalar(select(Environment).where(Environment.name == name))
        if found is None:
            raise
        return found


async def create_environment(session: AsyncSession, name: str, *, actor: str) -> Environment:
    """A new environment with the default policy. Raises InvalidInput for a bad name, Conflict if taken."""
    _check_name(name)
    if await session.scalar(select(Environment.id).where(Environment.name == name)) is not None:
        raise Conflict("environment_exists", f"There is already an environment named {name}.")
    environment = await _create(session, name)
    await record_change(session, actor, "environment.create", f"environment:{name}", {"name": name})
    return environment


async def get_environment(session: AsyncSession, name: str) -> Environment:
    """The environment called `name`; NotFound otherwise."""
    environment = await session.scalar(select(Environment).where(Environment.name == name))
    if environment is None:
        raise NotFound("environment_not_found", f"There is no environment named {name[:64]!r}.")
    return environment


async def list_environments(session: AsyncSession, *, public_url: str) -> list[EnvironmentView]:
    environments = list(await session.scalars(select(Environment).order_by(Environment.name)))
    return [await describe_environment(session, environment, public_url=public_url) for environment in environments]


async def describe_environment(session: AsyncSession, environment: Environment, *, public_url: str) -> EnvironmentView:
    version = await session.scalar(select(func.max(Policy.version)).where(Policy.environment_id == environment.id))
    idp = await session.scalar(select(IdentityProvider.id).where(IdentityProvider.environment_id == environment.id))
    connectors = await session.scalar(
        select(func.count()).select_from(Connector).where(Connector.environment_id == environment.id)
    )
    return EnvironmentView(
        id=environment.id,
        name=environment.name,
        mcp_url=mcp_url(public_url, environment.name),
        created_at=environment.created_at,
        policy_version=version,
        idp_configured=idp is not None,
        connectors=int(connectors or 0),
    )


async def _create(session: AsyncSession, name: str) -> Environment:
    now = utcnow()
    environment = Environment(id=new_id(), name=name, created_at=now)
    session.add(environment)
    await session.flush()
    session.add(
        Policy(environment_id=environment.id, version=1, text=DEFAULT_POLICY, created_at=now, created_by=SYSTEM_ACTOR)
    )
    await session.flush()
    return environment


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            "invalid_environment_name",
            "An environment name is 1-63 lowercase letters, digits and hyphens, starting with a letter or digit.",
        )
