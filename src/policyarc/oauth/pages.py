"""The few HTML pages of the sign-in flow: plain, escaped, no JavaScript, never framed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.responses import HTMLResponse

__all__ = ["consent_page", "message_page", "other_browser_page"]

# No scripts at all, and no framing: a consent page inside another site's frame is a clickjacking target.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d2125}"
    "h1{font-size:1.4rem}.box{border:1px solid #dfe1e6;border-radius:8px;padding:1rem 1.25rem}"
    ".return{font-size:1.1rem;background:#f7f8f9;border-radius:6px;padding:.5rem .75rem}"
    "ul{padding-left:1.2rem}.muted{color:#626f86}.no{color:#ae2e24}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem;border-radius:6px;border:1px solid #8590a2}"
    "button.primary{background:#0c66e4;color:#fff;border-color:#0c66e4}"
)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - PolicyArc</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def message_page(title: str, message: str, *, status: int = 400, link: tuple[str, str] | None = None) -> HTMLResponse:
    """A page that tells the user what happened and what to do; `link` is (href, label)."""
    body = f'<div class="box"><p>{escape(message)}</p>'
    if link is not None:
        body += f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>'
    return _page(title, body + "</div>", status)


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
    items = "".join(
        f"<li>{escape(scope)}</li>"
        if scope in granted
        else f'<li class="no">{escape(scope)} (not allowed by policy)</li>'
        for scope in asked
    )
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items())
    before = '<p class="muted">You allowed this client before.</p>' if consented_before else ""
    if granted:
        buttons = (
            '<button class="primary" type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button>'
        )
        question = "It will act in Jira as you, with these permissions:"
    else:
        buttons = '<button type="submit" name="decision" value="deny">Back to the client</button>'
        question = "Policy allows none of the permissions it asks for, so it cannot be connected. Ask your admin."
    body = (
        f'<div class="box"><p><strong><bdi>{escape(client_name)}</bdi></strong> wants to use PolicyArc as '
        f"<strong>{escape(user_label)}</strong>.</p>"
        f'<p class="return">After you decide, your browser goes back to '
        f"<strong><bdi>{escape(redirect_host)}</bdi></strong></p>"
        f'<p class="muted">Client id: {escape(client_id)}</p>'
        + (
            f'<p>PolicyArc environment: <strong id="environment">{escape(environment)}</strong></p>'
            if environment
            else ""
        )
        + f"<p>{question}</p><ul>{items}</ul>{before}"
        f'<form method="post" action="{escape(action)}">{fields}{buttons}</form></div>'
    )
    return _page("Connect an MCP client", body, 200)
