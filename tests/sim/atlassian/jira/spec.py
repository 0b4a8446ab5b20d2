"""Check simulator responses against Atlassian's published Jira REST v3 spec.

Not a test module: a helper the Jira route tests import.

    from tests.sim.atlassian.jira.spec import assert_conforms
    assert_conforms("GET", "/rest/api/3/myself", response.status_code, response.json())

`path_template` is the spec's path (`/rest/api/3/issue/{issueIdOrKey}`); the simulator's prefix
`/api/ex/jira/{cloudId}` may be left on. The spec is read once from `../shared/atlassian/swagger-v3.v3.json`
(relative to the repo root); a test that needs it is skipped with the reason when the folder is absent.

How a body is judged, and where this is stricter or looser than the spec itself:

- 2xx: the operation's own response schema. OpenAPI 3.0 `nullable` is honoured; every `$ref` resolved;
  `additionalProperties: false` (which the spec sets on nearly every bean) makes unknown keys an error;
  formats int32/int64/uri/uuid/date-time are checked. An operation documented without a body (204) must
  answer with none.
- The spec marks no property of any bean as required, so on its own it accepts `{}` for every response.
  `ALWAYS_PRESENT` adds the keys real Jira always sends (the spec's own examples carry them); a missing one
  is an error.
- `IssueBean.fields` is `object` with any values in the spec. `ISSUE_FIELD_SCHEMAS` checks the system fields
  the simulator renders against the beans Jira uses for them (StatusDetails, UserDetails, Priority, ...),
  and Jira's timestamp form `2026-03-01T10:00:00.000+0000` for created/updated/resolutiondate.
- Errors: the spec documents 400/401/403/404 with no body schema at all. Jira's body is ErrorCollection
  (`{"errorMessages": [...], "errors": {...}}`, both keys always present), so that is what 400/403/404/405/409/410
  /413/415 are held to unless the spec gives a schema. 401 comes from api.atlassian.com's gateway, not from Jira:
  `{"code": 401, "message": "Unauthorized"}` (or `"Unauthorized; scope does not match"` for a token whose
  scopes do not cover the call), held to `GATEWAY_ERROR`. 429 may come from either layer: either shape.
- A status the operation does not document is an error, except `ALWAYS_POSSIBLE` (401 and 429 can answer any
  call through the gateway, 503 any call at all) and `EXTRA_STATUSES` (the removed `/rest/api/3/search`
  answers 410 Gone, which its deprecated spec entry predates).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SHARED_DIR = Path(__file__).resolve().parents[4] / ".." / "shared" / "atlassian"
SPEC_FILE = SHARED_DIR / "swagger-v3.v3.json"
SIM_PREFIX = "/api/ex/jira/{cloudId}"
_BASE = "urn:jira-rest-v3"  # the spec's URI inside the `referencing` registry

# Keys real Jira always sends in these beans; the spec marks none as required.
ALWAYS_PRESENT: dict[str, list[str]] = {
    "SearchAndReconcileResults": ["issues", "isLast"],
    "IssueBean": ["id"],
    "JQLCountResultsBean": ["count"],
    "PageBeanProject": ["self", "maxResults", "startAt", "total", "isLast", "values"],
    "Project": ["id", "key", "name", "self", "avatarUrls", "simplified", "style"],
    "User": ["accountId", "accountType", "active", "displayName", "avatarUrls", "self"],
    "UserDetails": ["accountId", "active", "displayName", "self"],
    "AvatarUrlsBean": ["16x16", "24x24", "32x32", "48x48"],
    "IssueTypeDetails": ["id", "name", "subtask"],
    "StatusDetails": ["id", "name", "statusCategory"],
    "StatusCategory": ["id", "key", "name", "colorName"],
    "Priority": ["id", "name"],
    "Resolution": ["id", "name"],
    "ErrorCollection": ["errorMessages", "errors"],
    "IssueTransition": ["id", "name", "to"],
    "PageOfComments": ["comments", "startAt", "maxResults", "total"],
    "Comment": ["id", "author", "body", "created", "updated"],
}

_JIRA_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"{_BASE}#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_ADF_DOC = {"type": "object", "required": ["type", "version", "content"], "properties": {"type": {"enum": ["doc"]}}}
# System fields as Jira renders them inside IssueBean.fields (the spec types `fields` as a free-form object).
ISSUE_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "summary": {"type": "string"},
    "status": _ref("StatusDetails"),
    "priority": _ref("Priority"),
    "issuetype": _ref("IssueTypeDetails"),
    "project": {"allOf": [_ref("ProjectDetails"), {"required": ["id", "key", "name", "self"]}]},
    "assignee": _nullable(_ref("UserDetails")),
    "reporter": _nullable(_ref("UserDetails")),
    "creator": _nullable(_ref("UserDetails")),
    "resolution": _nullable(_ref("Resolution")),
    "labels": {"type": "array", "items": {"type": "string"}},
    "created": {"type": "string", "pattern": _JIRA_TIMESTAMP},
    "updated": {"type": "string", "pattern": _JIRA_TIMESTAMP},
    "resolutiondate": {"type": ["string", "null"], "pattern": _JIRA_TIMESTAMP},
    "duedate": {"type": ["string", "null"], "pattern": _DATE},
    "description": _nullable(_ADF_DOC),
    "environment": _nullable(_ADF_DOC),
    "comment": _ref("PageOfComments"),
    "parent": {"type": "object", "required": ["id", "key"]},
    "subtasks": {"type": "array", "items": {"type": "object", "required": ["id", "key"]}},
    "watches": _ref("Watchers"),
    "votes": _ref("Votes"),
    "timetracking": _ref("TimeTrackingDetails"),
}

GATEWAY_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    "additionalProperties": False,
}
ERROR_COLLECTION: dict[str, Any] = _ref("ErrorCollection")
RATE_LIMITED: dict[str, Any] = {"anyOf": [ERROR_COLLECTION, GATEWAY_ERROR]}

ALWAYS_POSSIBLE: frozenset[int] = frozenset({401, 429, 503})
EXTRA_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    ("get", "/rest/api/3/search"): frozenset({410}),
    ("post", "/rest/api/3/search"): frozenset({410}),
}
_ERROR_COLLECTION_STATUSES = frozenset({400, 403, 404, 405, 409, 410, 413, 415, 500, 503})


def _skip_without_spec() -> None:
    if not SPEC_FILE.is_file():
        pytest.skip(f"Atlassian's Jira spec is not at {SPEC_FILE} (the ../shared folder is absent in this checkout)")


@cache
def raw_spec() -> dict[str, Any]:
    """The spec as published, parsed once."""
    _skip_without_spec()
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return spec


def load_spec() -> dict[str, Any]:
    """The spec, skipping the calling test when it is absent (a user's clone has no ../shared)."""
    _skip_without_spec()
    return raw_spec()


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> draft 4 JSON Schema: `nullable`, and refs made absolute."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items() if key not in ("example", "examples", "xml")}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out["$ref"] = _BASE + ref
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _registry() -> Registry[Any]:
    spec = copy.deepcopy(raw_spec())
    schemas = spec["components"]["schemas"]
    for name, required in ALWAYS_PRESENT.items():
        schemas[name]["required"] = sorted({*schemas[name].get("required", []), *required})
    fields = schemas["IssueBean"]["properties"]["fields"]
    fields["properties"] = ISSUE_FIELD_SCHEMAS
    converted = _to_json_schema(spec)
    # The table above is already JSON Schema with absolute refs; put it back unconverted.
    converted["components"]["schemas"]["IssueBean"]["properties"]["fields"]["properties"] = ISSUE_FIELD_SCHEMAS
    return Registry().with_resource(_BASE, Resource.from_contents(converted, default_specification=DRAFT4))


_format_checker = FormatChecker(formats=())


@_format_checker.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_format_checker.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@_format_checker.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and " " not in value


@_format_checker.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


@_format_checker.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # Jira writes `+0000`, RFC 3339 `+00:00`: both parse with fromisoformat on Python 3.11.
    return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value))


def operation(method: str, path_template: str) -> dict[str, Any]:
    """The spec's operation object for a method and a path template."""
    path = path_template.removeprefix(SIM_PREFIX)
    item = load_spec()["paths"].get(path)
    if item is None or method.lower() not in item:
        raise AssertionError(f"the Jira spec has no operation {method.upper()} {path}")
    op: dict[str, Any] = item[method.lower()]
    return op


def operation_id(method: str, path_template: str) -> str:
    """The operationId of `method path_template` (handy for schemathesis filters)."""
    return str(operation(method, path_template)["operationId"])


def response_schema(method: str, path_template: str, status: int) -> dict[str, Any] | None:
    """The JSON Schema a body with this status must satisfy; None means "no body"."""
    path = path_template.removeprefix(SIM_PREFIX)
    op = operation(method, path)
    responses: dict[str, Any] = op.get("responses", {})
    documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    allowed_extra = ALWAYS_POSSIBLE | EXTRA_STATUSES.get((method.lower(), path), frozenset())
    if documented is None and status not in allowed_extra:
        raise AssertionError(
            f"{method.upper()} {path} ({op['operationId']}) documents statuses {sorted(responses)}, not {status}"
        )
    spec_schema = (documented or {}).get("content", {}).get("application/json", {}).get("schema")
    if status == 401:
        return GATEWAY_ERROR
    if status == 429:
        return RATE_LIMITED
    if spec_schema is not None:
        converted: dict[str, Any] = _to_json_schema(spec_schema)
        return converted
    if status in _ERROR_COLLECTION_STATUSES:
        return ERROR_COLLECTION
    if 200 <= status < 300:
        return None
    raise AssertionError(f"no rule for status {status} of {method.upper()} {path}")


def validate_schema(schema: Mapping[str, Any], body: Any, *, where: str = "body") -> None:
    """Validate `body` against a JSON Schema whose refs point into the spec (`component("User")`)."""
    validator = Draft4Validator(dict(schema), registry=_registry(), format_checker=_format_checker)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {_pointer(e.absolute_path)}: {e.message[:300]}" for e in errors[:25]]
        more = f"\n  ... and {len(errors) - 25} more" if len(errors) > 25 else ""
        raise AssertionError(f"{where} does not conform to the Jira spec:\n" + "\n".join(lines) + more)


def component(name: str) -> dict[str, Any]:
    """A schema that refers to `#/components/schemas/{name}`, for `validate_schema`."""
    load_spec()
    if name not in raw_spec()["components"]["schemas"]:
        raise AssertionError(f"the Jira spec has no schema {name!r}")
    return _ref(name)


def assert_conforms(method: str, path_template: str, status: int, body: Any) -> None:
    """Fail unless `body` is what the spec documents for `method path_template` answering `status`.

    `body` is the parsed JSON (None or b"" for an empty body).
    """
    schema = response_schema(method, path_template, status)
    where = f"{method.upper()} {path_template.removeprefix(SIM_PREFIX)} -> {status}"
    if schema is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{where}: the spec documents no body, got {body!r:.200}")
        return
    validate_schema(schema, body, where=where)


def _pointer(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else "(root)"
