"""Jira's issue search: `GET`/`POST /search/jql`, `POST /search/approximate-count`, and the removed `/search`.

`/search/jql` pages with an opaque `nextPageToken` and `isLast`; there is no `startAt` and no `total`.
The token here is base64url JSON holding the offset of the next page, a fingerprint of the query (site,
caller and JQL text) and when it was issued; a token from another query, another caller, or older than
seven days (Jira: "This token will expire in 7 days") is a 400.

Page size: `maxResults` defaults to 50. Jira returns up to 5000 issues a page when only `id`/`key` are
asked for and fewer when more fields are (the spec: "API may return fewer items per page where a large
number of fields are requested"); the simulator caps such pages at 100.

The hot path: the projects the caller may browse are picked first, then the compiled JQL filters and
sorts the issues of those projects, and only the page's issues are rendered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, Caller, authorize, read_json
from policyarc.sim.atlassian.jira.beans import json_response
from policyarc.sim.atlassian.jira.fields import FieldSelection, parse_fields_param, render_issue, split_expand
from policyarc.sim.atlassian.jql import UNBOUNDED, JqlContext, JqlError, compile_query, parse_jql
from policyarc.sim.atlassian.model import Issue

DEFAULT_PAGE = 50
MAX_PAGE_IDS = 5000  # only `id`/`key` requested
MAX_PAGE_FIELDS = 100  # any other field requested
MAX_RECONCILE = 50
TOKEN_LIFETIME = 7 * 86400.0
INVALID_NEXT_PAGE = "The nextPageToken is invalid or expired, or it was issued for a different query."
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_POST_KEYS = frozenset(
    {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "reconcileIssues"}
)
# Accepted although the POST bean does not list it: the GET form has it, and Jira ignores it in a body.
_LENIENT_POST_KEYS = frozenset({"failFast"})


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SearchRequest:
    """The parameters of one `/search/jql` call, from the query string or the JSON body."""

    def __init__(
        self,
        jql: str,
        next_page_token: str | None,
        max_results: int,
        fields: Sequence[str],
        expand: Sequence[str],
        reconcile_issues: Sequence[int],
    ) -> None:
        self.jql = jql
        self.next_page_token = next_page_token
        self.max_results = max_results
        self.fields = fields
        self.expand = expand
        self.reconcile_issues = reconcile_issues


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _bool(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise _BadRequest(f"The value '{raw}' is not valid for the parameter '{name}'; true or false is expected.")


def _int(raw: str, name: str, bits: int = 32) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise _BadRequest(f"The value '{raw}' is not valid for the parameter '{name}'; an integer is expected.")
    return value


def _from_query(request: Request) -> SearchRequest:
    params = request.query_params
    raw_max = params.get("maxResults")
    _bool(params.get("fieldsByKeys"), "fieldsByKeys")
    _bool(params.get("failFast"), "failFast")
    return SearchRequest(
        jql=params.get("jql", ""),
        next_page_token=params.get("nextPageToken") or None,
        max_results=_int(raw_max, "maxResults") if raw_max else DEFAULT_PAGE,
        fields=_split(params.getlist("fields")),
        expand=_split(params.getlist("expand")),
        reconcile_issues=[_int(v, "reconcileIssues", 64) for v in _split(params.getlist("reconcileIssues"))],
    )


def _strings(value: object) -> list[str]:
    """A JSON list of strings (or one comma-separated string, which Jira also takes for `expand`)."""
    if isinstance(value, str):
        return _split([value])
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _split(value)
    raise _BadRequest(BAD_PAYLOAD)


def _from_body(body: dict[str, Any]) -> SearchRequest:
    unknown = set(body) - _POST_KEYS - _LENIENT_POST_KEYS
    if unknown:
        raise _BadRequest(f'Unrecognized field "{sorted(unknown)[0]}". {BAD_PAYLOAD}')
    jql, token, max_results = body.get("jql"), body.get("nextPageToken"), body.get("maxResults")
    reconcile = body.get("reconcileIssues")
    if (
        (jql is not None and not isinstance(jql, str))
        or (token is not None and not isinstance(token, str))
        or (max_results is not None and (not isinstance(max_results, int) or isinstance(max_results, bool)))
        or (reconcile is not None and not (isinstance(reconcile, list) and all(_is_int(v) for v in reconcile)))
        or any(body.get(k) is not None and not isinstance(body[k], bool) for k in ("fieldsByKeys", "failFast"))
    ):
        raise _BadRequest(BAD_PAYLOAD)
    if body.get("properties") is not None:
        _strings(body["properties"])
    return SearchRequest(
        jql=jql or "",
        next_page_token=token or None,
        max_results=DEFAULT_PAGE if max_results is None else max_results,
        fields=_strings(body["fields"]) if body.get("fields") is not None else [],
        expand=_strings(body["expand"]) if body.get("expand") is not None else [],
        reconcile_issues=list(reconcile or []),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the page token ----------------------------------------------------------------------------------------


def _fingerprint(caller: Caller, jql: str) -> str:
    material = f"{caller.site.cloud_id}\n{caller.user.account_id}\n{jql.strip()}".encode()
    return hashlib.sha256(material).hexdigest()[:20]


def encode_token(offset: int, fingerprint: str, issued_at: float) -> str:
    raw = orjson.dumps({"o": offset, "q": fingerprint, "t": int(issued_at)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fingerprint: str, now: float) -> int | None:
    """The offset a token stands for, or None when it is malformed, expired or from another query."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    offset, issued_at = data.get("o"), data.get("t")
    if data.get("q") != fingerprint or not isinstance(offset, int) or not isinstance(issued_at, int):
        return None
    if isinstance(offset, bool) or offset < 0 or now - issued_at > TOKEN_LIFETIME:
        return None
    return offset


# -- running the query -------------------------------------------------------------------------------------


def _matching(request: Request, caller: Caller, jql: str) -> list[Issue] | Response:
    """The issues the caller may browse that match `jql`, sorted; or Jira's 400."""
    if not jql.strip():
        return jira_error(400, [UNBOUNDED])
    sim = request.app.state.sim
    site, account_id = caller.site, caller.user.account_id
    visible = frozenset(key for key in site.projects if site.can(account_id, key, "BROWSE_PROJECTS"))
    context = JqlContext(
        world=sim.world, site=site, account_id=account_id, now=sim.clock.now(), visible_projects=visible
    )
    try:
        query = compile_query(parse_jql(jql), context)
    except JqlError as exc:
        return jira_error(400, exc.messages)
    if not query.bounded:
        return jira_error(400, [UNBOUNDED])
    if not visible:
        return []
    candidates = [issue for issue in site.issues.values() if issue.project_key in visible and query.matches(issue)]
    return query.sort(candidates)


def _page_cap(fields: FieldSelection, expand: Collection[str]) -> int:
    keys_only = not fields.all and not fields.navigable and fields.include <= {"id", "key"}
    return MAX_PAGE_IDS if keys_only and not expand else MAX_PAGE_FIELDS


async def _search(request: Request, caller: Caller, params: SearchRequest) -> Response:
    if len(params.reconcile_issues) > MAX_RECONCILE:
        return jira_error(400, [f"reconcileIssues accepts at most {MAX_RECONCILE} issue ids."])
    sim = request.app.state.sim
    fingerprint = _fingerprint(caller, params.jql)
    offset = 0
    if params.next_page_token is not None:
        decoded = decode_token(params.next_page_token, fingerprint, sim.clock.time())
        if decoded is None:
            return jira_error(400, [INVALID_NEXT_PAGE])
        offset = decoded
    found = _matching(request, caller, params.jql)
    if isinstance(found, Response):
        return found
    selection = parse_fields_param(params.fields, default="id")
    expand = split_expand(params.expand)
    size = max(1, min(params.max_results, _page_cap(selection, expand)))
    page = found[offset : offset + size]
    issues = [render_issue(caller, issue, selection, expand) for issue in page]
    body: dict[str, Any] = {"issues": issues}
    # Search answers `names` and `schema` once for the page, not in every issue.
    for key in ("names", "schema"):
        if key in expand:
            merged: dict[str, Any] = {}
            for issue_bean in issues:
                merged.update(issue_bean.pop(key, {}))
            body[key] = merged
    if offset + size < len(found):
        body["nextPageToken"] = encode_token(offset + size, fingerprint, sim.clock.time())
        body["isLast"] = False
    else:
        body["isLast"] = True
    return json_response(body)


async def search_get(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    try:
        params = _from_query(request)
    except _BadRequest as exc:
        return jira_error(400, [exc.message])
    return await _search(request, caller, params)


async def search_post(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return jira_error(400, [BAD_PAYLOAD])
    try:
        params = _from_body(body)
    except _BadRequest as exc:
        return jira_error(400, [exc.message])
    return await _search(request, caller, params)


async def approximate_count(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict) or set(body) - {"jql"} or not isinstance(body.get("jql", ""), str):
        return jira_error(400, [BAD_PAYLOAD])
    found = _matching(request, caller, body.get("jql") or "")
    if isinstance(found, Response):
        return found
    return json_response({"count": len(found)})


async def search_removed(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    return jira_error(410, [SEARCH_REMOVED])


PREFIX = "/api/ex/jira/{cloudId}/rest/api/3"
routes: list[BaseRoute] = [
    Route(f"{PREFIX}/search/jql", search_get, methods=["GET"]),
    Route(f"{PREFIX}/search/jql", search_post, methods=["POST"]),
    Route(f"{PREFIX}/search/approximate-count", approximate_count, methods=["POST"]),
    Route(f"{PREFIX}/search", search_removed, methods=["GET", "POST"]),
]
