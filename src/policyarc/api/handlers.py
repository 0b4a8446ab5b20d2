"""One small handler per admin operation; each hands over to `policyarc.services` and says what changed.

Handlers get the shared objects (`AdminApi`) and the parsed call (`Call`); routing, authentication, input
parsing and error rendering happen once, in routes.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc import services
from policyarc.admin import AdminIdentity
from policyarc.api.schemas import (
    AccessChangeItem,
    AuditPage,
    AuditQuery,
    ChangeList,
    ChangesQuery,
    ConnectorCreate,
    ConnectorList,
    EnvironmentCreate,
    EnvironmentList,
    IdpUpdate,
    PolicyPreview,
    PolicyText,
    PolicyVersionList,
    SiteLookup,
    ValidationReport,
)
from policyarc.secrets import KeyRing
from policyarc.services.audit import AuditFilter
from policyarc.services.policy_preview import AccessChange, review_draft

logger = logging.getLogger(__name__)

ChangeKind = Literal["environment", "idp", "connector", "policy", "access"]
M = TypeVar("M", bound=BaseModel)


class ChangeListener(Protocol):
    async def changed(self, what: ChangeKind, environment_id: str) -> None:
        """Called after a change is committed: reload what this instance caches (policy, connectors)."""
        ...


@dataclass(frozen=True)
class AdminApi:
    """What the handlers share. `site_url_template` and `public_url` come from Settings."""

    sessions: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    http: httpx.AsyncClient
    public_url: str
    site_url_template: str
    scopes: tuple[str, ...]
    listeners: Sequence[ChangeListener] = field(default=())

    async def changed(self, what: ChangeKind, environment_id: str) -> None:
        # The change is committed already: a listener that fails must not turn it into an error response.
        # Its own poll picks the change up within its interval.
        for listener in self.listeners:
            try:
                await listener.changed(what, environment_id)
            except Exception:
                logger.exception("reloading after a %s change failed; the next poll will pick it up", what)


@dataclass(frozen=True)
class ReloadOn:
    """A ChangeListener that calls `reload()` after changes of the given kinds, e.g.
    `ReloadOn(frozenset({"connector"}), directory.reload)`."""

    kinds: frozenset[str]
    reload: Callable[[], Awaitable[object]]

    async def changed(self, what: ChangeKind, environment_id: str) -> None:
        if what in self.kinds:
            await self.reload()


@dataclass(frozen=True)
class Call:
    identity: AdminIdentity
    path: dict[str, str]
    body: BaseModel | None = None
    query: BaseModel | None = None

    def body_as(self, model: type[M]) -> M:
        if not isinstance(self.body, model):
            raise TypeError(f"expected a {model.__name__} body")  # the route table and handler disagree
        return self.body

    def query_as(self, model: type[M]) -> M:
        if not isinstance(self.query, model):
            raise TypeError(f"expected {model.__name__} parameters")
        return self.query

    @property
    def actor(self) -> str:
        return self.identity.name


async def list_environments(api: AdminApi, call: Call) -> EnvironmentList:
    async with api.sessions() as session:
        return EnvironmentList(items=await services.list_environments(session, public_url=api.public_url))


async def create_environment(api: AdminApi, call: Call) -> services.EnvironmentView:
    body = call.body_as(EnvironmentCreate)
    async with api.sessions() as session:
        environment = await services.create_environment(session, body.name, actor=call.actor)
        await session.commit()
        view = await services.describe_environment(session, environment, public_url=api.public_url)
    await api.changed("environment", view.id)
    return view


async def get_environment(api: AdminApi, call: Call) -> services.EnvironmentView:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return await services.describe_environment(session, environment, public_url=api.public_url)


async def get_idp(api: AdminApi, call: Call) -> services.IdpView:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return await services.show_idp(session, environment, call.path["kind"], public_url=api.public_url)


async def put_idp(api: AdminApi, call: Call) -> services.IdpView:
    body = call.body_as(IdpUpdate)
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        view = await services.set_idp(
            session,
            environment,
            api.keyring,
            kind=call.path["kind"],
            client_id=body.client_id,
            client_secret=body.client_secret.get_secret_value() if body.client_secret is not None else None,
            scopes=body.scopes,
            public_url=api.public_url,
            actor=call.actor,
        )
        await session.commit()
    await api.changed("idp", environment.id)
    return view


async def list_connectors(api: AdminApi, call: Call) -> ConnectorList:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return ConnectorList(items=await services.list_connectors(session, environment))


async def add_connector(api: AdminApi, call: Call) -> services.ConnectorView:
    body = call.body_as(ConnectorCreate)
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        view = await services.add_jira_connector(
            session,
            environment,
            site=body.site,
            cloud_id=body.cloud_id,
            http=api.http,
            site_url_template=api.site_url_template,
            actor=call.actor,
        )
        await session.commit()
    await api.changed("connector", environment.id)
    return view


async def delete_connector(api: AdminApi, call: Call) -> services.ConnectorView:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        view = await services.remove_connector(session, environment, call.path["connector"], actor=call.actor)
        await session.commit()
    await api.changed("connector", environment.id)
    return view


async def resolve_site(api: AdminApi, call: Call) -> services.ResolvedSite:
    return await services.resolve_site(api.http, api.site_url_template, call.body_as(SiteLookup).site)


async def get_policy(api: AdminApi, call: Call) -> services.PolicyView:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return await services.show_policy(session, environment)


async def put_policy(api: AdminApi, call: Call) -> services.PolicyView:
    text = call.body_as(PolicyText).text
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        environment_id = environment.id
        view = await services.set_policy(session, environment, text, scopes=api.scopes, actor=call.actor)
    await api.changed("policy", environment_id)
    return view


async def validate_policy(api: AdminApi, call: Call) -> ValidationReport:
    text = call.body_as(PolicyText).text
    async with api.sessions() as session:
        await services.get_environment(session, call.path["environment"])  # 404 for an unknown environment
    errors = services.check_policy(text, api.scopes)
    return ValidationReport(valid=not errors, errors=errors)


async def list_policy_versions(api: AdminApi, call: Call) -> PolicyVersionList:
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return PolicyVersionList(items=await services.policy_history(session, environment))


async def get_policy_version(api: AdminApi, call: Call) -> services.PolicyView:
    raw = call.path["version"]
    if not raw.isdigit() or len(raw) > 9:
        raise services.InvalidInput("invalid_version", "A policy version is a whole number, such as 3.")
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        return await services.policy_version(session, environment, int(raw))


def _change_items(changes: list[AccessChange]) -> list[AccessChangeItem]:
    return [
        AccessChangeItem(user_id=c.user.user_id, email=c.user.email, client_id=c.client.client_id,
                         client_name=c.client.name, scopes=list(c.scopes))
        for c in changes
    ]  # fmt: skip


async def preview_policy(api: AdminApi, call: Call) -> PolicyPreview:
    text = call.body_as(PolicyText).text
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        try:
            review = await review_draft(session, environment, text, api.scopes)
        except services.InvalidPolicy as exc:
            return PolicyPreview(valid=False, errors=exc.errors, compared_with_version=None, users_checked=0,
                                 clients_checked=0, widened=[], narrowed=[])  # fmt: skip
    report = review.report
    return PolicyPreview(
        valid=True,
        errors=[],
        compared_with_version=review.current.version,
        users_checked=report.users_checked,
        clients_checked=report.clients_checked,
        widened=_change_items(report.widened),
        narrowed=_change_items(report.narrowed),
    )


async def audit_tail(api: AdminApi, call: Call) -> AuditPage:
    query = call.query_as(AuditQuery)
    async with api.sessions() as session:
        environment = await services.get_environment(session, call.path["environment"])
        items = await services.tail_audit(
            session,
            AuditFilter(environment_id=environment.id, **query.model_dump()),
        )
    return AuditPage(items=items, last_id=items[-1].id if items else query.since_id)


async def list_changes(api: AdminApi, call: Call) -> ChangeList:
    query = call.query_as(ChangesQuery)
    async with api.sessions() as session:
        return ChangeList(items=await services.list_changes(session, limit=query.limit, before_id=query.before_id))
