"""Reading v2 write bodies: wiki-markup strings and Server user references, turned into the forms the
shared v3 write code (`jira.writes`) validates and applies (ADF documents, account ids).

Only the value forms differ between the versions; validation, permissions and wording stay in `jira.writes`.
Server names users by `name` (or `key`); the v3 code's messages name the account id, so `restore_names`
puts the user name back into them.
"""

from __future__ import annotations

from typing import Any

from policyarc.sim.atlassian.adf_wiki import wiki_to_adf
from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.jira_v2.shapes import RICH_TEXT, user_by_name, username

NOT_A_STRING = "Operation value must be a string"
_USER_FIELDS = ("assignee", "reporter")


def document(text: str | None) -> dict[str, Any] | None:
    """Wiki markup as ADF; an empty or missing text clears the field, as Server stores it."""
    if text is None or not text.strip():
        return None
    return wiki_to_adf(text)


def _user_ref(caller: Caller, value: Any) -> Any:
    """`{"name": "bob"}` (or `key`) -> `{"accountId": ...}`; an unknown name is kept for the v3 check to
    reject with its "does not exist" wording, which then names it."""
    if not isinstance(value, dict):
        return value
    ref = value.get("name", value.get("key"))
    if ref is None or ref == "":
        return None
    if not isinstance(ref, str):
        return {"accountId": None}
    if ref == "-1":
        return {"accountId": "-1"}
    user = user_by_name(caller.world, ref)
    return {"accountId": user.account_id if user is not None else ref}


def _value(caller: Caller, field_id: str, value: Any, errors: dict[str, str]) -> Any:
    if field_id in RICH_TEXT:
        if value is not None and not isinstance(value, str):
            errors[field_id] = NOT_A_STRING
            return None
        return document(value)
    if field_id in _USER_FIELDS:
        return _user_ref(caller, value)
    return value


def translate(caller: Caller, fields: Any, update: Any) -> tuple[Any, Any, dict[str, str]]:
    """`fields` and `update` of a v2 body in v3 form, and the errors found converting them.

    Anything that is not an object is passed through for the v3 code to reject with Jira's wording.
    """
    errors: dict[str, str] = {}
    if isinstance(fields, dict):
        fields = {k: _value(caller, k, v, errors) for k, v in fields.items()}
    if isinstance(update, dict):
        update = {k: _operations(caller, k, ops, errors) for k, ops in update.items()}
    return fields, update, errors


def _operations(caller: Caller, field_id: str, operations: Any, errors: dict[str, str]) -> Any:
    if not isinstance(operations, list):
        return operations
    converted = []
    for operation in operations:
        if not isinstance(operation, dict):
            converted.append(operation)
            continue
        step = {}
        for verb, value in operation.items():
            if field_id == "comment" and verb == "add" and isinstance(value, dict):
                body = value.get("body")
                if not isinstance(body, str) or not body.strip():
                    errors["comment"] = "Comment body can not be empty!"
                    step[verb] = value
                else:
                    step[verb] = {**value, "body": wiki_to_adf(body)}
            else:
                step[verb] = _value(caller, field_id, value, errors)
        converted.append(step)
    return converted


def string_ids(fields: Any, *field_ids: str) -> Any:
    """`fields` with a JSON-number `id` in each named reference made a string: Server binds `{"id": 10000}`
    to its string ids, where the v3 look-ups compare strings. Anything that is not an object passes through."""
    if not isinstance(fields, dict):
        return fields
    out = dict(fields)
    for field_id in field_ids:
        ref = out.get(field_id)
        if isinstance(ref, dict) and isinstance(ref.get("id"), int) and not isinstance(ref["id"], bool):
            out[field_id] = {**ref, "id": str(ref["id"])}
    return out


def restore_names(caller: Caller, errors: dict[str, str]) -> dict[str, str]:
    """Messages from the v3 checks with account ids replaced by Server user names."""
    users = caller.world.users
    out = {}
    for field_id, message in errors.items():
        for account_id, user in users.items():
            if account_id in message:
                message = message.replace(account_id, username(user))
        out[field_id] = message
    return out
