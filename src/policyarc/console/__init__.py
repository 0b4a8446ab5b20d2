"""The web console: an admin's pages over the services the admin API and the CLI use (routes.py wires them)."""

from policyarc.console.auth import ConsoleAuth, SignedIn
from policyarc.console.core import PREFIX, Console, setup_url
from policyarc.console.routes import create_console_routes
from policyarc.console.throttle import SignInThrottle

__all__ = ["PREFIX", "Console", "ConsoleAuth", "SignInThrottle", "SignedIn", "create_console_routes", "setup_url"]
