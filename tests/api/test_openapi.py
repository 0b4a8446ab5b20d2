"""The OpenAPI document is valid OpenAPI 3.1, generated, and covers every route the API serves."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from policyarc.api import PREFIX, endpoint_table
from tests.api.admin_harness import Admin


async def document(admin: Admin) -> dict[str, Any]:
    response = await admin.client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc: dict[str, Any] = response.json()
    return doc


async def test_document_is_valid_openapi_3_1(admin: Admin) -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is not installed")
    doc = await document(admin)
    assert doc["openapi"] == "3.1.0"
    validator.validate(doc)  # raises with the first problem found


async def test_document_covers_every_route_and_nothing_else(admin: Admin) -> None:
    doc = await document(admin)
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == set(endpoint_table())
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_every_operation_needs_the_admin_key_and_documents_401_as_a_problem(admin: Admin) -> None:
    doc = await document(admin)
    assert doc["components"]["securitySchemes"]["adminKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An admin API key, pa_admin_...",
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["security"] == [{"adminKey": []}], (method, path)
            assert "application/problem+json" in op["responses"]["401"]["content"], (method, path)
            params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert params == set(re.findall(r"{([a-z_]+)}", path)), (method, path)


async def test_refs_resolve_and_bodies_come_from_the_models(admin: Admin) -> None:
    doc = await document(admin)
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs and refs <= set(schemas)
    put_idp = doc["paths"][f"{PREFIX}/environments/{{environment}}/idp/{{kind}}"]["put"]
    body = schemas[put_idp["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert body["additionalProperties"] is False and body["required"] == ["client_id"]
    assert "client_secret" in body["properties"]
    idp = schemas["IdpView"]
    assert "client_secret" not in idp["properties"] and "client_secret_set" in idp["properties"]
    audit = doc["paths"][f"{PREFIX}/environments/{{environment}}/audit"]["get"]
    assert {p["name"] for p in audit["parameters"] if p["in"] == "query"} == {
        "limit",
        "since_id",
        "user_id",
        "tool",
        "decision",
    }
