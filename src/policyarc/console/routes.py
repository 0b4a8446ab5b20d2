"""`create_console_routes()`: the web console's pages, over the same service functions as the admin API and CLI.

Every page but sign-in and set-up needs a signed-in admin, and every POST the form's CSRF token (`Console.page`).
Handlers read input, call a service, and render: what a page shows is decided in `services/`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from policyarc.console.account import AccountPages
from policyarc.console.audit import AuditPages
from policyarc.console.core import PREFIX, Console
from policyarc.console.environments import EnvironmentPages
from policyarc.console.identity import IdentityPages
from policyarc.console.people import PeoplePages
from policyarc.console.policy import PolicyPages
from policyarc.console.resources import ResourcePages

__all__ = ["create_console_routes"]


def create_console_routes(console: Console) -> list[BaseRoute]:
    return [
        *AccountPages(console).routes(),
        *ResourcePages(console).routes(),
        *IdentityPages(console).routes(),
        *AuditPages(console).routes(),
        *PeoplePages(console).routes(),
        *PolicyPages(console).routes(),
        *EnvironmentPages(console).routes(),
        Mount(f"{PREFIX}/static", StaticFiles(packages=[("policyarc.console", "static")]), name="console-static"),
    ]
