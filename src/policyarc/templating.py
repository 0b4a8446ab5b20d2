"""Rendering the gateway's HTML pages (the console's, and the sign-in and consent pages users see): one Jinja2
environment over `console/templates`, and the headers every page carries.

Pages load only the console's own static files (`script-src 'self'`, no inline script or style), are never framed,
and are not cached, since they show live configuration. The loader finds the templates by package name without
importing `policyarc.console`, so the OAuth pages can use it without depending on the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

__all__ = ["HEADERS", "Renderer", "with_form_target"]

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def with_form_target(origin: str) -> str:
    """The pages' CSP, letting a form's answer also redirect to `origin` (an identity provider's sign-in)."""
    return HEADERS["Content-Security-Policy"].replace("form-action 'self'", f"form-action 'self' {origin}")


class Renderer:
    """Renders `templates/NAME` with the given context plus `globals` (the product name, static URL)."""

    def __init__(self, *, globals: Mapping[str, Any] | None = None) -> None:
        self._env = Environment(
            loader=PackageLoader("policyarc.console", "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,  # a missing variable is a bug, not an empty string on the page
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(globals or {})

    def text(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)

    def page(
        self, name: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        return HTMLResponse(self.text(name, **context), status_code=status, headers={**HEADERS, **(headers or {})})
