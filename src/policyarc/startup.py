"""Waiting for the database at start: a gateway started beside its database (a compose file, a fail-over)
retries for a while, one line per attempt, instead of dying with a traceback on the first refused connect.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import exc as sa_exc

from policyarc.settings import Settings
from policyarc.store.outage import database_label, describe_outage, is_database_unreachable

__all__ = ["StartupError", "prepare_database_patiently"]


class StartupError(Exception):
    """The gateway cannot start; the message is the one line to show, naming what to check."""


def prepare_database_patiently(
    settings: Settings,
    *,
    attempts: int,
    delay: float,
    report: Callable[[str], None],
    prepare: Callable[[Settings], str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Migrate and ensure the default environment (`app.prepare_database`), retrying while the database is
    unreachable: `attempts` tries `delay` seconds apart, each failed one reported as one line. Returns the
    environment's id; raises `StartupError` when the attempts are used up or the database refuses us."""
    if prepare is None:
        from policyarc.app import prepare_database  # the app's imports are heavy: only when serving

        prepare = prepare_database
    label = database_label(settings.database_url)
    for attempt in range(1, attempts + 1):
        try:
            return prepare(settings)
        except sa_exc.SQLAlchemyError as exc:
            if not is_database_unreachable(exc):
                raise StartupError(
                    f"the database at {label} refused the gateway ({describe_outage(exc)}); "
                    "check POLICYARC_DATABASE_URL (user, password, database name)"
                ) from None
            if attempt == attempts:
                raise StartupError(
                    f"cannot reach the database at {label} ({describe_outage(exc)}); attempt {attempt} of "
                    f"{attempts}, giving up: check that it is running and POLICYARC_DATABASE_URL names it"
                ) from None
            report(
                f"database at {label} unreachable ({describe_outage(exc)}); attempt {attempt} of {attempts}, "
                f"retrying in {delay:g} s"
            )
            sleep(delay)
    raise StartupError(f"no attempt to reach the database at {label} was made (attempts={attempts})")
