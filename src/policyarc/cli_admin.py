"""Admin commands: `db`, `idp`, `connector`, `policy`, `audit`, `keys`, `admin`. Mount with
`app.add_typer(cli_admin.app)` (no name: the groups join the top level).

The commands talk to the store directly, with the same settings as `policyarc serve` (POLICYARC_*), and bring
the database to the current schema first, so they work on a fresh data directory. Changes are recorded in
`admin_changes` as `cli:<os user>`. A running gateway sees a policy set here within its watcher's interval
(policy/store.py); connector and IdP changes when its directory reloads. Secrets are never printed, except a
new admin key, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

T = TypeVar("T")

app = typer.Typer(add_completion=False)
db_app = typer.Typer(help="The gateway's database.", no_args_is_help=True)
idp_app = typer.Typer(help="Identity providers (Atlassian).", no_args_is_help=True)
connector_app = typer.Typer(help="Connectors (Jira).", no_args_is_help=True)
env_app = typer.Typer(help="Environments: each with its own MCP URL, IdP, connectors and policy.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy, in Cedar.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail of tool calls.", no_args_is_help=True)
keys_app = typer.Typer(help="The encryption key ring.", no_args_is_help=True)
admin_app = typer.Typer(help="Admins: console accounts and admin API keys.", no_args_is_help=True)
for _name, _group in (
    ("db", db_app),
    ("env", env_app),
    ("idp", idp_app),
    ("connector", connector_app),
    ("policy", policy_app),
    ("audit", audit_app),
    ("keys", keys_app),
    ("admin", admin_app),
):
    app.add_typer(_group, name=_name)

EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class CliError(Exception):
    """Ends the command with `error: <message>` on stderr and exit status 1."""


@dataclass(frozen=True)
class Store:
    settings: Any  # policyarc.settings.Settings (imported lazily: keep `--help` fast)
    engine: Any  # AsyncEngine
    sessions: Any  # async_sessionmaker[AsyncSession]


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async work; turn the errors a user can fix into a message and exit status 1."""
    from policyarc.services import ServiceError
    from policyarc.settings import SettingsError

    try:
        return asyncio.run(_call(work))
    except ServiceError as exc:
        _fail(exc.message, exc.errors)
    except (CliError, SettingsError) as exc:
        _fail(str(exc))


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _fail(message: str, details: list[str] | None = None) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    for detail in details or ():
        typer.echo(f"  - {detail}", err=True)
    raise typer.Exit(1)


@contextlib.asynccontextmanager
async def open_store() -> AsyncIterator[Store]:
    """Settings, a migrated database and sessions; the engine is disposed on the way out."""
    from policyarc.settings import load_settings
    from policyarc.store import create_engine, session_factory, upgrade

    settings = load_settings()
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        yield Store(settings=settings, engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()


async def _environment(session: Any, name: str) -> Any:
    """The named environment; `default` is created (with the default policy) on first use."""
    from policyarc import services

    if name == services.DEFAULT_ENVIRONMENT:
        environment = await services.ensure_environment(session)
        await session.commit()
        return environment
    return await services.get_environment(session, name)


def http_client() -> Any:
    """The outbound client for tenant_info look-ups (a seam for tests): the gateway's transport, so an answer is
    decoded within the same bound as every other upstream answer (httpx's own decoders have none)."""
    import httpx

    from policyarc.upstream import AiohttpTransport

    return httpx.AsyncClient(transport=AiohttpTransport(), follow_redirects=False)


def _keyring(settings: Any) -> Any:
    from policyarc.secrets import KeyRingError, load_or_create_keyring

    try:
        return load_or_create_keyring(settings)
    except KeyRingError as exc:
        raise CliError(str(exc)) from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


# --- db -----------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (safe to run at any time, from any instance)."""
    from sqlalchemy.engine import make_url

    async def work() -> tuple[str, str | None]:
        from policyarc.store import current_revision

        async with open_store() as store:
            url = make_url(store.settings.database_url).render_as_string(hide_password=True)
            return url, await current_revision(store.engine)

    url, revision = _run(work)
    typer.echo(f"database {url} is at revision {revision}")


# --- idp ----------------------------------------------------------------------------------------------------


@idp_app.command("set")
def idp_set(
    kind: Annotated[str, typer.Argument(help="The identity provider: atlassian.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The OAuth app's client ID.")],
    client_secret_env: Annotated[
        str | None, typer.Option("--client-secret-env", help="Read the client secret from this environment variable.")
    ] = None,
    client_secret_stdin: Annotated[
        bool, typer.Option("--client-secret-stdin", help="Read the client secret from standard input.")
    ] = False,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="An Atlassian scope (repeat); default: what Jira needs.")
    ] = None,
    env: EnvOption = "default",
) -> None:
    """Set the identity provider's OAuth app. The secret never goes on the command line (shell history)."""
    from policyarc import services

    if client_secret_env and client_secret_stdin:
        _fail("give the client secret one way: --client-secret-env or --client-secret-stdin, not both")
    secret: str | None = None
    if client_secret_env:
        secret = os.environ.get(client_secret_env)
        if not secret:
            _fail(f"the environment variable {client_secret_env} is not set or is empty")
    elif client_secret_stdin:
        # At a terminal, ask without echo; from a pipe (a secret manager), read one line.
        secret = getpass.getpass("Client secret: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
        if not secret:
            _fail("no client secret on standard input")

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            environment = await _environment(session, env)
            view = await services.set_idp(
                session,
                environment,
                _keyring(store.settings),
                kind=kind,
                client_id=client_id,
                client_secret=secret,
                scopes=scope or None,
                public_url=store.settings.public_url,
                actor=actor(),
            )
            await session.commit()
            return view

    view = _run(work)
    typer.echo(f"{view.kind} identity provider saved for environment {env}.")
    _print_idp(view)


@idp_app.command("show")
def idp_show(
    kind: Annotated[str, typer.Argument(help="The identity provider.")] = "atlassian",
    env: EnvOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Show the identity provider (whether a secret is set, never the secret)."""
    from policyarc import services

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            environment = await _environment(session, env)
            return await services.show_idp(session, environment, kind, public_url=store.settings.public_url)

    view = _run(work)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        _print_idp(view)


def _print_idp(view: Any) -> None:
    typer.echo(f"  client id:     {view.client_id}")
    typer.echo(f"  client secret: {'set' if view.client_secret_set else 'NOT SET'}")
    typer.echo(f"  scopes:        {' '.join(view.scopes)}")
    typer.echo(f"  callback URL:  {view.callback_url}  (register it in Atlassian's developer console)")


# --- connector ----------------------------------------------------------------------------------------------


@connector_app.command("add")
def connector_add(
    template: Annotated[str, typer.Argument(help="The connector template: jira.")],
    site: Annotated[str, typer.Option("--site", help="Atlassian site: acme, or acme.atlassian.net.")],
    cloud_id: Annotated[
        str | None, typer.Option("--cloud-id", help="The site's cloud ID; looked up from the site when omitted.")
    ] = None,
    env: EnvOption = "default",
) -> None:
    """Add a Jira (user passthrough) connector."""
    from policyarc import services

    if template not in ("jira", "jira-user"):
        _fail(f"unknown connector template {template!r}: use jira")

    async def work() -> tuple[Any, str]:
        async with open_store() as store, store.sessions() as session, http_client() as http:
            environment = await _environment(session, env)
            view = await services.add_jira_connector(
                session,
                environment,
                site=site,
                cloud_id=cloud_id,
                http=http,
                site_url_template=store.settings.atlassian_site_url,
                actor=actor(),
            )
            await session.commit()
            return view, services.mcp_url(store.settings.public_url, environment.name)

    view, mcp_url = _run(work)
    typer.echo(f"Added {view.template_name} for site {view.site} (cloud ID {view.cloud_id}) as {view.id}.")
    typer.echo(f"MCP URL: {mcp_url}")


@env_app.command("list")
def env_list(as_json: JsonOption = False) -> None:
    """List the environments with their MCP URLs."""
    from policyarc import services

    async def work() -> list[Any]:
        async with open_store() as store, store.sessions() as session:
            await _environment(session, services.DEFAULT_ENVIRONMENT)
            return await services.list_environments(session, public_url=store.settings.public_url)

    views = _run(work)
    if as_json:
        typer.echo("[" + ",".join(view.model_dump_json() for view in views) + "]")
        return
    for view in views:
        idp = "idp" if view.idp_configured else "no idp"
        typer.echo(f"{view.name:<16} {view.mcp_url:<48} {idp:<7} {view.connectors} connector(s)")


@env_app.command("create")
def env_create(name: Annotated[str, typer.Argument(help="Lowercase letters, digits and hyphens.")]) -> None:
    """Create an environment (default policy, no IdP yet). Running gateways serve it within a few seconds."""
    from policyarc import services

    async def work() -> str:
        async with open_store() as store, store.sessions() as session:
            environment = await services.create_environment(session, name, actor=actor())
            await session.commit()
            return services.mcp_url(store.settings.public_url, environment.name)

    url = _run(work)
    typer.echo(f"Created environment {name}. MCP URL: {url}")
    typer.echo(
        f"Next: policyarc idp set atlassian --env {name} ...; policyarc connector add jira --env {name} --site SITE"
    )


@connector_app.command("list")
def connector_list(env: EnvOption = "default", as_json: JsonOption = False) -> None:
    """List the environment's connectors."""
    from policyarc import services

    async def work() -> list[Any]:
        async with open_store() as store, store.sessions() as session:
            return await services.list_connectors(session, await _environment(session, env))

    views = _run(work)
    if as_json:
        typer.echo("[" + ",".join(view.model_dump_json() for view in views) + "]")
    elif not views:
        typer.echo(f"Environment {env} has no connectors. Add one: policyarc connector add jira --site SITE")
    for view in [] if as_json else views:
        typer.echo(f"{view.id}  {view.slug:<8} {view.template_name:<26} {view.site or '-':<16} {view.cloud_id or '-'}")


@connector_app.command("remove")
def connector_remove(
    ref: Annotated[str, typer.Argument(help="The connector's id or slug (jira).")], env: EnvOption = "default"
) -> None:
    """Remove a connector. Users' tool calls through it stop at once on this database."""
    from policyarc import services

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            view = await services.remove_connector(session, await _environment(session, env), ref, actor=actor())
            await session.commit()
            return view

    view = _run(work)
    typer.echo(f"Removed {view.template_name} for site {view.site} ({view.id}).")


# --- policy -------------------------------------------------------------------------------------------------


def _read_policy(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}")


@policy_app.command("show")
def policy_show(env: EnvOption = "default") -> None:
    """Print the policy in force (Cedar) on stdout; its version on stderr."""
    from policyarc import services

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            return await services.show_policy(session, await _environment(session, env))

    view = _run(work)
    typer.echo(f"# environment {env}, version {view.version}, by {view.created_by or '-'} at {_when(view.created_at)}",
               err=True)  # fmt: skip
    typer.echo(view.text.rstrip("\n"))


@policy_app.command("validate")
def policy_validate(file: Annotated[Path, typer.Argument(help="A Cedar file, or - for stdin.")]) -> None:
    """Check a policy file against the gateway's schema without saving it."""
    from policyarc import services

    errors = services.check_policy(_read_policy(file), services.gateway_scopes())
    if errors:
        _fail(f"{file} is not a valid policy ({len(errors)} problem{'s' if len(errors) != 1 else ''})", errors)
    typer.echo(f"{file} is valid.")


@policy_app.command("set")
def policy_set(
    file: Annotated[Path, typer.Argument(help="A Cedar file, or - for stdin.")], env: EnvOption = "default"
) -> None:
    """Validate a policy file and save it as the environment's next version."""
    from policyarc import services
    from policyarc.policy.store import DEFAULT_INTERVAL

    text = _read_policy(file)

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            environment = await _environment(session, env)
            return await services.set_policy(
                session, environment, text, scopes=services.gateway_scopes(), actor=actor()
            )

    view = _run(work)
    typer.echo(
        f"Saved policy version {view.version} for environment {env}. Running gateways apply it within "
        f"{DEFAULT_INTERVAL:g} s."
    )


# --- audit --------------------------------------------------------------------------------------------------


@audit_app.command("tail")
def audit_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=500, help="How many recent records.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new records (Ctrl-C to stop).")] = False,
    user: Annotated[str | None, typer.Option("--user", help="Only this user id.")] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Only this tool.")] = None,
    decision: Annotated[
        str | None, typer.Option("--decision", help="Only this decision (allowed, denied_policy...).")
    ] = None,
    env: EnvOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of text.")] = False,
    interval: Annotated[float, typer.Option(hidden=True, min=0.0)] = 1.0,
    max_polls: Annotated[int | None, typer.Option(hidden=True)] = None,  # tests stop --follow with this
) -> None:
    """Print the latest audit records, oldest first."""
    from policyarc import services
    from policyarc.services.audit import audit_json

    def show(view: Any) -> None:
        if as_json:
            typer.echo(audit_json(view))
            return
        status = view.upstream_status if view.upstream_status is not None else "-"
        latency = f"{view.latency_ms:.1f}ms" if view.latency_ms is not None else "-"
        note = f" [{view.state}: {view.note}]" if view.note else ""
        typer.echo(
            f"{view.id:>6} {_when(view.ts)} {view.user_email or view.user_id or '-':<24} {view.tool or '-':<18} "
            f"{view.decision:<14} {status!s:>4} {latency:>9} {view.error_code or ''}".rstrip()
            + note
        )

    async def work() -> None:
        async with open_store() as store:
            async with store.sessions() as session:
                environment = await _environment(session, env)
            where = services.AuditFilter(
                environment_id=environment.id, user_id=user, tool=tool, decision=decision, limit=lines
            )
            since: int | None = None
            unsettled: set[int] = set()  # writes shown as pending: shown again once their outcome is recorded
            polls = 0
            while True:
                async with store.sessions() as session:
                    views = await services.tail_audit(session, where.model_copy(update={"since_id": since}))
                    changed = await services.audit_records_by_id(session, unsettled) if unsettled else []
                for view in [*(view for view in changed if view.settled), *views]:
                    show(view)
                    if view.settled:
                        unsettled.discard(view.id)
                    else:
                        unsettled.add(view.id)
                if views:
                    since = views[-1].id
                elif since is None:
                    since = 0
                polls += 1
                if not follow or (max_polls is not None and polls >= max_polls):
                    return
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        _run(work)


def _timestamp(value: str | None, option: str) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: not an ISO 8601 date or time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601, UTC if no offset).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment (default: all).")] = None,
) -> None:
    """Write audit records as JSON Lines (one object a line), oldest first."""
    from policyarc import services

    start, end = _timestamp(since, "--since"), _timestamp(until, "--until")
    if start and end and start >= end:
        _fail("--since must be before --until")

    async def work() -> int:
        async with open_store() as store, store.sessions() as session:
            environment_id = (await _environment(session, env)).id if env else None
            if output is None:
                return await services.export_audit_jsonl(
                    session, sys.stdout, environment_id=environment_id, since=start, until=end
                )
            with output.open("w", encoding="utf-8") as out:
                return await services.export_audit_jsonl(
                    session, out, environment_id=environment_id, since=start, until=end
                )

    count = _run(work)
    typer.echo(f"exported {count} audit record{'s' if count != 1 else ''}", err=True)


# --- keys ---------------------------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate(
    reencrypt: Annotated[
        bool,
        typer.Option("--reencrypt", help="Also re-encrypt stored secrets now (only when no gateway is running)."),
    ] = False,
) -> None:
    """Add a new primary key to the key ring file. Old keys stay, so nothing stored becomes unreadable.

    Stored secrets move to the new key as they are rewritten (lazily); `policyarc keys reencrypt` moves the rest
    in one sweep, once every gateway instance has restarted with the new ring.
    """
    from policyarc.secrets import KeyRingError, rotate_keyring

    async def work() -> tuple[str, Any]:
        async with open_store() as store:
            settings = store.settings
            if settings.secret_keys is not None:
                raise CliError(
                    "the key ring comes from POLICYARC_SECRET_KEYS: put a new key first in that variable "
                    "(keep the old ones after it), restart, then run `policyarc keys reencrypt`"
                )
            _keyring(settings)  # creates the ring file on a fresh data directory
            try:
                kid = rotate_keyring(settings.keyring_path)
            except KeyRingError as exc:
                raise CliError(str(exc)) from None
            async with store.sessions() as session:
                from policyarc.admin import record_change

                await record_change(session, actor(), "keyring.rotate", "keyring", {"primary": kid})
                await session.commit()
            result = await _sweep(store) if reencrypt else None
            return kid, result

    kid, result = _run(work)
    typer.echo(f"New primary key {kid}. Restart running gateways so they load it.")
    if result is None:
        typer.echo("Stored secrets move to it as they are rewritten; run `policyarc keys reencrypt` to move the rest.")
    else:
        _print_sweep(result)


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """Re-encrypt every stored secret with the primary key. Run after every instance has the current ring."""

    async def work() -> Any:
        async with open_store() as store:
            return await _sweep(store)

    _print_sweep(_run(work))


async def _sweep(store: Store) -> Any:
    from policyarc.admin import record_change
    from policyarc.services import reencrypt_secrets

    keyring = _keyring(store.settings)
    async with store.sessions() as session:
        result = await reencrypt_secrets(session, keyring)
        await record_change(
            session,
            actor(),
            "keyring.reencrypt",
            "keyring",
            {"primary": keyring.primary, "rewritten": result.rewritten, "unreadable": result.unreadable},
        )
        await session.commit()
    return result


def _print_sweep(result: Any) -> None:
    typer.echo(f"Re-encrypted {result.rewritten} stored secrets ({result.current} were already current).")
    if result.unreadable:
        typer.echo(
            f"warning: {result.unreadable} stored values could not be read with this key ring and were left as they "
            "are (a key was removed, or a value is damaged); affected users will be asked to sign in again.",
            err=True,
        )


# --- console admins ---------------------------------------------------------------------------------------------


@admin_app.command("create-user")
def admin_create_user(email: Annotated[str, typer.Argument(help="The admin's email; they sign in with it.")]) -> None:
    """Invite a console admin: prints a one-time link (valid 24 hours) where they choose their password."""
    from datetime import UTC, datetime

    from policyarc.console import setup_url
    from policyarc.services.admins import invite_admin

    async def work() -> tuple[str, str]:
        async with open_store() as store, store.sessions() as session:
            view, raw = await invite_admin(session, email, actor=actor(), now=datetime.now(UTC))
            await session.commit()
            return view.email, setup_url(store.settings.public_url, raw)

    who, link = _run(work)
    typer.echo(f"Set-up link for {who} (works once, for 24 hours; not shown again):", err=True)
    typer.echo(link)


@admin_app.command("list-users")
def admin_list_users() -> None:
    """List console admins."""
    from policyarc.services.admins import list_admins

    async def work() -> list[Any]:
        async with open_store() as store, store.sessions() as session:
            return await list_admins(session)

    admins = _run(work)
    if not admins:
        typer.echo("No console admins. Invite one: policyarc admin create-user EMAIL")
    for admin in admins:
        state = f"last sign-in {_when(admin.last_sign_in_at)}" if admin.active else "invited, no password yet"
        typer.echo(f"{admin.email:<40} {state}")


# --- admin keys ---------------------------------------------------------------------------------------------


@admin_app.command("create-key")
def admin_create_key(
    name: Annotated[str, typer.Argument(help="Who or what the key is for, e.g. ci or alice.")],
) -> None:
    """Make an admin API key. It is printed once, here; only its hash is stored."""
    from policyarc.admin import create_admin_key, record_change

    async def work() -> tuple[str, str]:
        async with open_store() as store, store.sessions() as session:
            try:
                key_id, raw = await create_admin_key(session, name)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            await record_change(session, actor(), "admin_key.create", f"admin_key:{key_id}", {"name": name.strip()})
            await session.commit()
            return key_id, raw

    key_id, raw = _run(work)
    typer.echo(f"Admin key {key_id} ({name.strip()}). Store it now; it is not shown again:", err=True)
    typer.echo(raw)


@admin_app.command("list-keys")
def admin_list_keys(as_json: JsonOption = False) -> None:
    """List admin API keys (never the keys themselves)."""
    from policyarc.admin import list_admin_keys

    async def work() -> list[Any]:
        async with open_store() as store, store.sessions() as session:
            return await list_admin_keys(session)

    keys = _run(work)
    if as_json:
        import orjson

        rows = [
            {"id": k.id, "name": k.name, "created_at": k.created_at, "last_used_at": k.last_used_at,
             "revoked_at": k.revoked_at}
            for k in keys
        ]  # fmt: skip
        typer.echo(orjson.dumps(rows).decode())
        return
    if not keys:
        typer.echo("No admin keys. Make one: policyarc admin create-key NAME")
    for key in keys:
        state = f"revoked {_when(key.revoked_at)}" if key.revoked_at else f"last used {_when(key.last_used_at)}"
        typer.echo(f"{key.id}  {key.name:<24} created {_when(key.created_at)}  {state}")


@admin_app.command("revoke-key")
def admin_revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (from list-keys).")]) -> None:
    """Revoke an admin API key; calls with it fail at once."""
    from policyarc.admin import record_change, revoke_admin_key

    async def work() -> Any:
        async with open_store() as store, store.sessions() as session:
            info = await revoke_admin_key(session, key_id)
            if info is None:
                raise CliError(f"there is no admin key {key_id[:40]!r}; see policyarc admin list-keys")
            await record_change(session, actor(), "admin_key.revoke", f"admin_key:{key_id}", {"name": info.name})
            await session.commit()
            return info

    info = _run(work)
    typer.echo(f"Revoked admin key {info.id} ({info.name}).")
