"""The few HTML pages of the sign-in flow: plain, escaped, no JavaScript, never framed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.responses import HTMLResponse

from policyarc import __version__
from policyarc.identity.atlassian import AtlassianProfile, AtlassianSite
from policyarc.templating import Renderer

__all__ = ["consent_page", "idp_test_page", "message_page", "other_browser_page"]

# The console's look (templates and stylesheet), but stricter headers: no script at all, and no framing: a consent
# page inside another site's frame is a clickjacking target. No `form-action`: the consent form's answer redirects
# to the client, which browsers would check against it.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_RENDER = Renderer(globals={"version": __version__, "static": "/console/static"})


def message_page(title: str, message: str, *, status: int = 400, link: tuple[str, str] | None = None) -> HTMLResponse:
    """A page that tells the user what happened and what to do; `link` is (href, label)."""
    return _RENDER.page(
        "public_message.html",
        status=status,
        headers=_HEADERS,
        title=title,
        message=message,
        link=link,
        alert=status >= 400,
    )


def other_browser_page() -> HTMLResponse:
    """A pending authorization opened in a browser other than the one that started it (browser_binding.py)."""
    return message_page(
        "Continue in the browser that started this",
        "This connection request was started in another browser (or that browser's cookie is gone), so it cannot "
        "be continued here. If you did not start it, close this page. Otherwise start again from your MCP client "
        "(reconnect the PolicyArc server) and finish in the browser it opens.",
        status=403,
    )


def consent_page(
    *,
    client_name: str,
    client_id: str,
    redirect_host: str,
    user_label: str,
    asked: Sequence[str],
    granted: Sequence[str],
    hidden: Mapping[str, str],
    action: str,
    consented_before: bool,
    environment: str = "",
) -> HTMLResponse:
    """The consent form. Client-chosen values (name, id, redirect host) come through `display.display_text`;
    the redirect host stands out because a name proves nothing, while the host is where the code will go."""
    return _RENDER.page(
        "public_consent.html",
        headers=_HEADERS,
        title="Connect an MCP client",
        client_name=client_name,
        client_id=client_id,
        redirect_host=redirect_host,
        user_label=user_label,
        asked=list(asked),
        granted=set(granted),
        hidden=dict(hidden),
        action=action,
        consented_before=consented_before,
        environment=environment,
    )


def idp_test_page(*, profile: AtlassianProfile, sites: Sequence[AtlassianSite], back: str) -> HTMLResponse:
    """What an admin's test sign-in brought back (oauth/idp_test.py)."""
    return _RENDER.page(
        "public_idp_test.html",
        headers=_HEADERS,
        title="Test sign-in with Atlassian",
        account_name=profile.name,
        email=profile.email,
        account_id=profile.account_id,
        sites=list(sites),
        back=back,
    )
