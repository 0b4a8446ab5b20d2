"""The server-rendered pages of /auth/authorize: sign-in with consent, and the error page.

Plain HTML with no script; every value that came from the request or the world goes through `escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from policyarc.sim.atlassian.model import User
from policyarc.sim.atlassian.oauth.scopes import SCOPE_DESCRIPTIONS

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#172b4d}"
    "fieldset{border:1px solid #dfe1e6;border-radius:4px;margin:1rem 0}"
    "label{display:block;padding:.25rem 0}.error{color:#bf2600}"
    "button{padding:.5rem 1rem;margin-right:.5rem}"
)


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def consent_page(
    *,
    action: str,
    app_name: str,
    scopes: Iterable[str],
    users: Iterable[User],
    selected_account_id: str | None,
    hidden: Mapping[str, str],
    message: str | None = None,
) -> str:
    """Sign in as one of the seeded users and accept or cancel the app's request."""
    hidden_inputs = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in hidden.items()
    )
    user_choices = "\n".join(
        '<label><input type="radio" name="account_id" required '
        f'value="{escape(user.account_id)}"{" checked" if user.account_id == selected_account_id else ""}> '
        f"{escape(user.name)} &lt;{escape(user.email)}&gt;</label>"
        for user in users
    )
    scope_items = "\n".join(
        f"<li><code>{escape(scope)}</code> {escape(SCOPE_DESCRIPTIONS.get(scope, ''))}</li>" for scope in scopes
    )
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    body = f"""<h1>Atlassian (simulated)</h1>
<p><strong>{escape(app_name)}</strong> is requesting access to your Atlassian account.</p>
{error}
<form method="post" action="{escape(action)}">
{hidden_inputs}
<fieldset><legend>Sign in as</legend>
{user_choices}
</fieldset>
<p>It would like to:</p>
<ul>
{scope_items}
</ul>
<p>Access covers every site you are a member of.</p>
<button type="submit" name="decision" value="accept">Accept</button>
<button type="submit" name="decision" value="cancel" formnovalidate>Cancel</button>
</form>"""
    return _document(f"Authorize {app_name}", body)


def error_page(message: str) -> str:
    """Atlassian's answer to a request it cannot send back to any callback."""
    body = f"""<h1>Something went wrong</h1>
<p class="error" role="alert">{escape(message)}</p>
<p>The app that sent you here is misconfigured. Contact its developer.</p>"""
    return _document("Error", body)
