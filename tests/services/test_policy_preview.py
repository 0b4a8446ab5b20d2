"""Previewing a draft policy: one user through one client, and every known user x client pair whose access it
widens or narrows; the users and clients asked about (most recently seen first, bounded); policy history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.policy import DEFAULT_POLICY, PolicyEngine, Rule, rules_to_cedar
from policyarc.services import (
    Conflict,
    NotFound,
    ensure_environment,
    gateway_scopes,
    policy_history,
    policy_version,
    set_policy,
)
from policyarc.services.policy_preview import (
    KnownClient,
    KnownUser,
    access_changes,
    find_user,
    known_clients,
    known_users,
    preview_grants,
    review_changes,
)
from policyarc.store import session_factory
from policyarc.store.models import OAuthClient, User

SCOPES = gateway_scopes()
READ, WRITE, PROJECTS = "jira:issues:read", "jira:issues:write", "jira:projects:read"
ALICE = KnownUser("a" * 32, "alice@example.com")
BOB = KnownUser("b" * 32, "bob@example.com")
CAROL = KnownUser("c" * 32, "Carol@Other.example")
CLAUDE = KnownClient("claude-1", "Claude Code")
CURSOR = KnownClient("cursor-1", "Cursor")


def engine_for(*rules: Rule) -> PolicyEngine:
    return PolicyEngine(rules_to_cedar(rules), 0, SCOPES)


CURRENT = PolicyEngine(DEFAULT_POLICY, 1, SCOPES)  # read for everyone


def test_preview_shows_what_one_user_gains_and_loses_through_one_client() -> None:
    draft = engine_for(
        Rule("permit", (WRITE,), who="emails", emails=("bob@example.com",), clients=("claude-1",)),
        Rule("permit", (READ,), who="domains", domains=("example.com",)),
    )
    bob_claude = preview_grants(CURRENT, draft, BOB, CLAUDE, SCOPES)
    assert bob_claude.current == {READ}
    assert bob_claude.draft == {READ, WRITE}
    assert (bob_claude.gained, bob_claude.lost) == ((WRITE,), ())
    bob_cursor = preview_grants(CURRENT, draft, BOB, CURSOR, SCOPES)
    assert (bob_cursor.gained, bob_cursor.lost) == ((), ())
    carol = preview_grants(CURRENT, draft, CAROL, CLAUDE, SCOPES)
    assert (carol.gained, carol.lost) == ((), (READ,))


def test_access_changes_lists_every_pair_widened_or_narrowed_and_only_those() -> None:
    draft = engine_for(
        Rule("permit", (READ, PROJECTS), clients=("cursor-1",)),
        Rule("forbid", (READ,), who="emails", emails=("alice@example.com",)),
    )
    report = access_changes(CURRENT, draft, [ALICE, BOB], [CLAUDE, CURSOR], SCOPES)
    widened = {(c.user.email, c.client.client_id, c.scopes) for c in report.widened}
    narrowed = {(c.user.email, c.client.client_id, c.scopes) for c in report.narrowed}
    assert widened == {("alice@example.com", "cursor-1", (PROJECTS,)), ("bob@example.com", "cursor-1", (PROJECTS,))}
    assert narrowed == {
        ("alice@example.com", "claude-1", (READ,)),
        ("alice@example.com", "cursor-1", (READ,)),  # alice is in both lists for cursor: gains one, loses one
        ("bob@example.com", "claude-1", (READ,)),
    }
    assert (report.users_checked, report.clients_checked, report.unchanged) == (2, 2, False)


def test_the_same_policy_changes_nobody() -> None:
    report = access_changes(CURRENT, engine_for(Rule("permit", (READ,))), [ALICE, CAROL], [CLAUDE], SCOPES)
    assert report.unchanged and report.widened == [] and report.narrowed == []


def test_raw_cedar_naming_user_ids_is_evaluated_too() -> None:
    text = f'permit (principal == PolicyArc::User::"{BOB.user_id}", action, resource);'
    report = access_changes(CURRENT, PolicyEngine(text, 0, SCOPES), [ALICE, BOB], [CLAUDE], SCOPES)
    assert [(c.user, c.scopes) for c in report.widened] == [(BOB, (PROJECTS, WRITE))]
    assert [(c.user, c.scopes) for c in report.narrowed] == [(ALICE, (READ,))]


def test_find_user_matches_emails_case_blind_and_stands_in_for_strangers() -> None:
    assert find_user([ALICE, CAROL], " carol@other.EXAMPLE ") is CAROL
    stranger = find_user([ALICE], "Dave@Example.com")
    assert stranger.email == "dave@example.com"
    assert stranger.user_id == "preview:dave@example.com"  # never a real (32 hex digit) id


def test_labels_name_the_client_and_its_id_and_fall_back_for_users_without_email() -> None:
    assert CLAUDE.label == "Claude Code (claude-1)"
    assert KnownClient("x").label == "x"
    assert KnownUser("u1", "", "Dana").label == "Dana"
    assert KnownUser("u1", "").label == "u1"


async def _seed(engine: AsyncEngine, users: int, clients: int) -> None:
    now = datetime.now(UTC)
    async with session_factory(engine).begin() as db:
        for n in range(users):
            # user 0 never seen; the others seen n minutes ago, so user 1 is the most recent
            seen = None if n == 0 else now - timedelta(minutes=n)
            db.add(User(email=f"u{n}@example.com", display_name=f"User {n}", idp_kind="atlassian",
                        idp_subject=f"s{n}", created_at=now, last_seen_at=seen))  # fmt: skip
        for n in range(clients):
            metadata = {"client_name": f"Client {n}"} if n else {"client_name": 7}  # a name that is not text
            db.add(OAuthClient(client_id=f"c{n}", client_metadata=metadata, kind="dcr", created_at=now,
                               updated_at=now - timedelta(minutes=n)))  # fmt: skip


async def test_known_users_and_clients_are_the_most_recent_and_bounded(engine: AsyncEngine) -> None:
    await _seed(engine, users=5, clients=4)
    async with session_factory(engine)() as db:
        users = await known_users(db, limit=3)
        assert [u.email for u in users] == ["u1@example.com", "u2@example.com", "u3@example.com"]
        everyone = await known_users(db)
        assert everyone[-1].email == "u0@example.com"  # never seen: last
        clients = await known_clients(db, limit=2)
        assert clients == [KnownClient("c0", ""), KnownClient("c1", "Client 1")]


async def test_review_changes_asks_about_the_known_users_and_clients(engine: AsyncEngine) -> None:
    await _seed(engine, users=3, clients=2)
    draft = engine_for(Rule("permit", (READ,), who="emails", emails=("u1@example.com",)))
    async with session_factory(engine)() as db:
        report = await review_changes(db, CURRENT, draft, SCOPES, max_users=2)
    assert (report.users_checked, report.clients_checked) == (2, 2)
    assert report.widened == []
    assert sorted((c.user.email, c.client.client_id) for c in report.narrowed) == [
        ("u2@example.com", "c0"),
        ("u2@example.com", "c1"),
    ]


async def test_history_lists_versions_newest_first_and_saves_are_bound_to_the_reviewed_version(
    engine: AsyncEngine,
) -> None:
    async with session_factory(engine)() as db:
        environment = await ensure_environment(db)
        await db.commit()
        await set_policy(db, environment, DEFAULT_POLICY + "\n", scopes=SCOPES, actor="console:a@example.com",
                         expected_version=1)  # fmt: skip
        with pytest.raises(Conflict) as stale:
            await set_policy(db, environment, DEFAULT_POLICY, scopes=SCOPES, actor="console:b@example.com",
                             expected_version=1)  # fmt: skip
        assert stale.value.code == "policy_changed"
        assert "Version 2 of the policy was saved after you started from version 1" in stale.value.message
        history = await policy_history(db, environment)
        assert [(v.version, v.created_by) for v in history][:1] == [(2, "console:a@example.com")]
        assert [v.version for v in history] == [2, 1]
        assert (await policy_version(db, environment, 1)).text == DEFAULT_POLICY
        with pytest.raises(NotFound):
            await policy_version(db, environment, 9)
