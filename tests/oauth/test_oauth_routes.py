"""Discovery: RFC 9728 and RFC 8414 metadata as MCP clients read them."""

from __future__ import annotations

from tests.oauth.gateway_harness import ISSUER, RESOURCE, SCOPES, Gateway


async def test_protected_resource_metadata(gateway: Gateway) -> None:
    response = await gateway.client.get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    body = response.json()
    assert body["resource"] == RESOURCE and body["authorization_servers"] == [ISSUER]
    assert body["scopes_supported"] == list(SCOPES) and body["resource_name"] == "PolicyArc"


async def test_authorization_server_metadata(gateway: Gateway) -> None:
    response = await gateway.client.get("/.well-known/oauth-authorization-server")
    body = response.json()
    assert body["issuer"] == ISSUER  # exactly, no trailing slash (RFC 8414 section 3.3)
    assert body["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert body["registration_endpoint"] == f"{ISSUER}/register"
    assert body["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["client_id_metadata_document_supported"] is True
    assert body["scopes_supported"] == list(SCOPES)
    assert "none" in body["token_endpoint_auth_methods_supported"]


async def test_token_endpoint_allows_cors_authorize_does_not(gateway: Gateway) -> None:
    preflight = {"origin": "https://inspector.example", "access-control-request-method": "POST"}
    token = await gateway.client.options("/token", headers=preflight)
    assert token.headers.get("access-control-allow-origin") == "*"
    authorize = await gateway.client.options("/authorize", headers=preflight)
    assert "access-control-allow-origin" not in authorize.headers
