"""Policy per environment: show, validate, set. Rows in `policies` are append-only; the highest version rules.

Text is validated against the schema for the gateway's scope registry before it is saved, so a stored
version always installs. Setting a policy writes version + 1; two admins saving at once cannot both get the
same version (primary key), and the loser is told to reload.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.policy import validate_policy
from policyarc.services.errors import Conflict, InvalidPolicy, NotFound
from policyarc.store.models import Environment, Policy, utcnow

MAX_POLICY_BYTES = 256 * 1024


def gateway_scopes() -> tuple[str, ...]:
    """Every scope the gateway's connectors offer: what a policy may name."""
    return tuple(dict.fromkeys(tool.scope for tool in JIRA_TOOLS))


class PolicyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    environment: str
    version: int
    text: str
    created_at: datetime
    created_by: str | None


async def show_policy(session: AsyncSession, environment: Environment) -> PolicyView:
    row = await session.scalar(
        select(Policy).where(Policy.environment_id == environment.id).order_by(Policy.version.desc()).limit(1)
    )
    if row is None:
        raise NotFound("policy_not_found", f"Environment {environment.name} has no policy.")
    return _view(environment, row)


def check_policy(text: str, scopes: Iterable[str]) -> list[str]:
    """Everything wrong with `text` (Cedar's messages); empty when it would install."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        return [f"the policy is larger than {MAX_POLICY_BYTES // 1024} KiB"]
    if not text.strip():
        return ["the policy is empty: it would deny everything; write `forbid` rules if that is what you mean"]
    return validate_policy(text, scopes)


async def policy_history(session: AsyncSession, environment: Environment, *, limit: int = 100) -> list[PolicyView]:
    """The environment's versions, newest first: who saved each and when."""
    rows = await session.scalars(
        select(Policy).where(Policy.environment_id == environment.id).order_by(Policy.version.desc()).limit(limit)
    )
    return [_view(environment, row) for row in rows]


async def policy_version(session: AsyncSession, environment: Environment, version: int) -> PolicyView:
    row = await session.get(Policy, (environment.id, version))
    if row is None:
        raise NotFound("policy_version_not_found", f"Environment {environment.name} has no policy version {version}.")
    return _view(environment, row)


async def set_policy(
    session: AsyncSession,
    environment: Environment,
    text: str,
    *,
    scopes: Iterable[str],
    actor: str,
    expected_version: int | None = None,
) -> PolicyView:
    """Save `text` as the environment's next version. InvalidPolicy (nothing saved) when it does not
    validate; Conflict when another save took the version first, or when `expected_version` (the version the
    change was reviewed against) is no longer the newest. Commits, so the version is final when this returns
    (the caller then tells its policy watcher)."""
    errors = check_policy(text, scopes)
    if errors:
        raise InvalidPolicy(errors)
    current = await session.scalar(select(func.max(Policy.version)).where(Policy.environment_id == environment.id))
    if expected_version is not None and current != expected_version:
        raise Conflict(
            "policy_changed",
            f"Version {current} of the policy was saved after you started from version {expected_version}; "
            "review your change against it and save again.",
        )
    version = (current or 0) + 1
    row = Policy(environment_id=environment.id, version=version, text=text, created_at=utcnow(), created_by=actor)
    change = {"version": version, "previous_version": current, "bytes": len(text.encode())}
    try:
        session.add(row)
        await session.flush()  # the primary key (environment, version) is where a concurrent save collides
        await record_change(session, actor, "policy.set", f"environment:{environment.name}/policy", change)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(
            "policy_version_conflict",
            f"Someone saved version {version} of the policy at the same time; reload it and apply your change again.",
        ) from exc
    return _view(environment, row)


def _view(environment: Environment, row: Policy) -> PolicyView:
    return PolicyView(
        environment=environment.name,
        version=row.version,
        text=row.text,
        created_at=row.created_at,
        created_by=row.created_by,
    )
