"""Policy: the environment's rules as a form beside the Cedar text they compile to, a Cedar editor for what the
form cannot say, a preview of one user through one client, a review of whose access a draft widens or narrows
before it is saved, and the history of versions (view, restore).

Every step is a plain form post, so the pages work without JavaScript. A draft travels in the form (the rule
fields, or the Cedar text); nothing is stored until Save on the review page, which is bound to the version the
review compared against.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.console.policy_form import (
    MAX_RULES,
    RuleDraft,
    compile_drafts,
    drafts_from_rules,
    new_draft,
    numbered,
    read_drafts,
)
from policyarc.policy import cedar_to_rules
from policyarc.policy.beyond import why_not_rules
from policyarc.services.environments import get_environment
from policyarc.services.errors import Conflict, InvalidInput
from policyarc.services.policies import (
    MAX_POLICY_BYTES,
    PolicyView,
    check_policy,
    policy_history,
    policy_version,
    set_policy,
    show_policy,
)
from policyarc.services.policy_preview import (
    KnownClient,
    KnownUser,
    find_user,
    known_clients,
    known_users,
    preview_grants,
    review_draft,
    stored_engine,
)
from policyarc.store.models import Environment

__all__ = ["PolicyPages"]

# Cedar text arrives form-encoded (up to three bytes per character), beside up to MAX_RULES rules' fields.
MAX_POLICY_FORM = 3 * MAX_POLICY_BYTES + 64 * 1024
MAX_POLICY_FIELDS = 40 * MAX_RULES
UNREGISTERED = KnownClient(client_id="preview:unregistered", name="a client not registered yet")


def _text(form: FormData) -> str:
    """The posted Cedar text with the browser's CRLF line ends made LF again, so an unchanged text compares equal."""
    value = form.get("text", "")
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _version(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 10 else None


class PolicyPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    def _base(self, name: str) -> str:
        return f"{PREFIX}/e/{name}/policy"

    async def _known(self, db: AsyncSession) -> tuple[list[KnownUser], list[KnownClient]]:
        return await known_users(db), await known_clients(db)

    # -- the editor ----------------------------------------------------------------------------------------------

    async def _editor(
        self,
        request: Request,
        signed_in: SignedIn,
        environment: Environment,
        current: PolicyView,
        *,
        tab: str,
        drafts: list[RuleDraft],
        text: str,
        compiled: str | None,
        errors: list[str],
        note: str | None = None,
        preview: dict[str, Any] | None = None,
        status: int = 200,
        users: list[KnownUser],
        clients: list[KnownClient],
    ) -> Response:
        form: FormData | None = getattr(request.state, "form", None)

        def chosen(name: str) -> str:
            value = form.get(name, "") if form is not None else ""
            return value[:320] if isinstance(value, str) else ""

        return self.console.render.page(
            "policy.html",
            status=status,
            **await self.console.frame(request, signed_in, environment.name),
            current=current,
            tab=tab,
            drafts=drafts,
            text=text,
            compiled=compiled,
            errors=errors,
            note=note,
            scopes=self.api.scopes,
            users=users,
            clients=clients,
            preview=preview,
            picked={k: chosen(k) for k in ("preview_user", "preview_email", "preview_client", "preview_client_id")},
            saved=_version(request.query_params.get("saved")),
        )

    async def editor(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            current = await show_policy(db, environment)
            users, clients = await self._known(db)
        rules = cedar_to_rules(current.text)
        beyond = why_not_rules(current.text) if rules is None else None
        tab = "raw" if rules is None or request.query_params.get("tab") == "raw" else "rules"
        note = f"This policy opens as Cedar text because the rules form cannot show it: {beyond}" if beyond else None
        return await self._editor(
            request, signed_in, environment, current, tab=tab,
            drafts=drafts_from_rules(rules or [], (c.client_id for c in clients)),
            text=current.text, compiled=current.text, errors=[], note=note, users=users, clients=clients,
        )  # fmt: skip

    def _pick(
        self, form: FormData, users: list[KnownUser], clients: list[KnownClient]
    ) -> tuple[KnownUser | None, KnownClient]:
        """The preview's user and client: a typed email or id wins over the lists; by default the first of each."""
        email = str(form.get("preview_email", "")).strip()[:320]
        user_id = str(form.get("preview_user", ""))
        user = find_user(users, email) if email else next((u for u in users if u.user_id == user_id), None)
        if user is None and users and not email and not user_id:
            user = users[0]
        typed = str(form.get("preview_client_id", "")).strip()[:2048]
        client_id = typed or str(form.get("preview_client", ""))
        client = next((c for c in clients if c.client_id == client_id), None)
        if client is None and typed:
            client = KnownClient(client_id=typed)
        elif client is None:
            client = clients[0] if clients and not client_id else UNREGISTERED
        return user, client

    async def edit(self, request: Request, signed_in: SignedIn) -> Response:
        """Every button of the editor: Preview, Add a rule, Remove rule N, switch to Cedar or back, Review."""
        name = request.path_params["env"]
        form: FormData = request.state.form
        action = str(form.get("action", "preview"))
        source = "raw" if form.get("source") == "raw" else "rules"
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            current = await show_policy(db, environment)
            users, clients = await self._known(db)
        scopes = self.api.scopes
        note: str | None = None
        drafts: list[RuleDraft] = []
        if source == "raw":
            text = _text(form)
            if action == "to-rules":
                rules = cedar_to_rules(text)
                if rules is None:
                    note = f"The rules form cannot show this text: {why_not_rules(text)}"
                else:
                    source = "rules"
                    drafts = drafts_from_rules(rules, (c.client_id for c in clients))
        else:
            drafts = read_drafts(form)
            if action == "add" and len(drafts) < MAX_RULES:
                drafts.append(new_draft())
            elif action.startswith("remove:") and action[7:].isdigit() and int(action[7:]) < len(drafts):
                del drafts[int(action[7:])]
        if source == "rules":
            compiled, drafts, errors = compile_drafts(drafts, scopes)
            text = compiled or ""
            if action == "to-raw" and compiled is not None:
                source = "raw"
        else:
            errors = numbered(check_policy(text, scopes))
            compiled = None if errors else text
        if compiled is not None and action == "review":
            return await self._review(request, signed_in, environment, compiled, origin=source)
        preview: dict[str, Any] | None = None
        if compiled is not None and action == "preview":
            user, client = self._pick(form, users, clients)
            if user is not None:
                in_force = stored_engine(current.text, current.version, scopes)
                grants = preview_grants(in_force, stored_engine(compiled, 0, scopes), user, client, scopes)
                preview = {"problem": None, "user": user, "client": client, "grants": grants}
            else:
                preview = {"problem": "Type the email of the person to preview: nobody has signed in yet."}
        failed = bool(errors or any(d.errors for d in drafts))
        return await self._editor(
            request, signed_in, environment, current, tab=source, drafts=drafts, text=text, compiled=compiled,
            errors=errors, note=note, preview=preview, status=400 if failed else 200, users=users, clients=clients,
        )  # fmt: skip

    # -- review and save -----------------------------------------------------------------------------------------

    async def _review(
        self,
        request: Request,
        signed_in: SignedIn,
        environment: Environment,
        text: str,
        *,
        origin: str,
        problem: str | None = None,
        restoring: int | None = None,
        status: int = 200,
    ) -> Response:
        async with self.api.sessions() as db:
            review = await review_draft(db, environment, text, self.api.scopes)
        return self.console.render.page(
            "policy_review.html",
            status=status,
            **await self.console.frame(request, signed_in, environment.name),
            current=review.current,
            text=text,
            origin=origin,
            report=review.report,
            same=text == review.current.text,
            problem=problem,
            restoring=restoring,
        )

    async def save(self, request: Request, signed_in: SignedIn) -> Response:
        """The review page's buttons: Save (bound to the version reviewed) or Back to editing."""
        name = request.path_params["env"]
        form: FormData = request.state.form
        text = _text(form)
        origin = "raw" if form.get("origin") == "raw" else "rules"
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            current = await show_policy(db, environment)
            if form.get("action") == "back":
                users, clients = await self._known(db)
                rules = cedar_to_rules(text) if origin == "rules" else None
                drafts = drafts_from_rules(rules or [], (c.client_id for c in clients))
                return await self._editor(
                    request, signed_in, environment, current, tab="rules" if rules is not None else "raw",
                    drafts=drafts, text=text, compiled=text, errors=[], users=users, clients=clients,
                )  # fmt: skip
            base = _version(form.get("base_version"))
            if base is None:
                raise InvalidInput("invalid_form", "The review did not say which version it compared against.")
            try:
                view = await set_policy(
                    db, environment, text, scopes=self.api.scopes, actor=f"console:{signed_in.admin.email}",
                    expected_version=base,
                )  # fmt: skip
            except Conflict as exc:
                return await self._review(
                    request, signed_in, environment, text, origin=origin, problem=exc.message, status=409
                )
        await self.api.changed("policy", environment.id)
        return RedirectResponse(f"{self._base(name)}/history?saved={view.version}", status_code=303)

    # -- history -------------------------------------------------------------------------------------------------

    async def history(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            versions = await policy_history(db, environment)
        return self.console.render.page(
            "policy_history.html",
            **await self.console.frame(request, signed_in, name),
            versions=versions,
            saved=_version(request.query_params.get("saved")),
        )

    async def _stored(self, request: Request) -> tuple[Environment, PolicyView, PolicyView]:
        version = _version(request.path_params["version"])
        if version is None:
            raise InvalidInput("invalid_version", "A policy version is a whole number, such as 3.")
        async with self.api.sessions() as db:
            environment = await get_environment(db, request.path_params["env"])
            return environment, await show_policy(db, environment), await policy_version(db, environment, version)

    async def version(self, request: Request, signed_in: SignedIn) -> Response:
        environment, current, view = await self._stored(request)
        return self.console.render.page(
            "policy_version.html",
            **await self.console.frame(request, signed_in, environment.name),
            current=current,
            view=view,
        )

    async def restore(self, request: Request, signed_in: SignedIn) -> Response:
        """Restoring is saving an old text as a new version: it goes through the same review first."""
        environment, _, view = await self._stored(request)
        origin = "rules" if cedar_to_rules(view.text) is not None else "raw"
        return await self._review(request, signed_in, environment, view.text, origin=origin,
                                  restoring=view.version)  # fmt: skip

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        base = f"{PREFIX}/e/{{env}}/policy"
        large = {"max_fields": MAX_POLICY_FIELDS, "max_bytes": MAX_POLICY_FORM}
        return [
            Route(base, page(self.editor), methods=["GET"]),
            Route(base, page(self.edit, **large), methods=["POST"]),
            Route(f"{base}/save", page(self.save, **large), methods=["POST"]),
            Route(f"{base}/history", page(self.history), methods=["GET"]),
            Route(f"{base}/history/{{version}}", page(self.version), methods=["GET"]),
            Route(f"{base}/history/{{version}}/restore", page(self.restore), methods=["POST"]),
        ]
