"""Small shaping rules the results depend on."""

from __future__ import annotations

import pytest

from policyarc.connectors.jira.shaping import user, when


@pytest.mark.parametrize(
    ("jira", "shown"),
    [
        ("2026-03-01T06:10:25.000+0000", "2026-03-01 06:10Z"),  # Jira Cloud's form: sliced, not parsed
        ("2026-03-01T06:10:25.000+0530", "2026-03-01 00:40Z"),  # another offset: converted to UTC
        ("2026-03-01T23:59:59.999-0100", "2026-03-02 00:59Z"),  # across midnight
        ("2026-03-01T06:10:25+00:00", "2026-03-01 06:10Z"),
        ("2026-03-01T06:10:25", "2026-03-01T06:10:25"),  # no offset: shown as given, not guessed
        ("yesterday", "yesterday"),
    ],
)
def test_times_are_shown_in_utc_minutes(jira: str, shown: str) -> None:
    assert when(jira) == shown


def test_a_missing_time_is_none() -> None:
    assert when(None) is None


def test_people_carry_their_email_when_jira_gives_it() -> None:
    alice = {"displayName": "Alice Adams", "emailAddress": "alice@example.com"}
    assert user(alice) == "Alice Adams <alice@example.com>"
    assert user({"displayName": "Alice Adams"}) == "Alice Adams"
    assert user(None) is None
