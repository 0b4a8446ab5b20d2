"""Client ID Metadata Documents: fetched, validated, cached, refreshed after the TTL."""

from __future__ import annotations

import httpx
import pytest

from policyarc.oauth.cimd import CimdError, MetadataDocumentFetcher, redirect_uri_allowed
from policyarc.store.models import OAuthClient
from tests.oauth.gateway_harness import CLIENT_REDIRECT, Documents, Gateway, query_of

URL = "https://client.example/oauth/client.json"


def _doc(**overrides: object) -> dict[str, object]:
    return {"client_id": URL, "client_name": "Doc Client", "redirect_uris": [CLIENT_REDIRECT], **overrides}


async def test_metadata_document_client_signs_in_and_is_cached(gateway: Gateway, documents: Documents) -> None:
    documents.docs["/oauth/client.json"] = _doc()
    tokens = await gateway.tokens_for({"client_id": URL})
    caller = await gateway.resolver.resolve(tokens["access_token"])
    assert caller is not None and caller.client_id == URL and caller.client_name == "Doc Client"
    async with gateway.sessions() as db:
        row = await db.get(OAuthClient, URL)
    assert row is not None and row.kind == "cimd" and row.client_secret_hash is None
    hits = documents.hits
    await gateway.provider.get_client(URL)
    assert documents.hits == hits  # cached
    documents.docs["/oauth/client.json"] = _doc(client_name="Renamed")
    gateway.clock.advance(gateway.config.cimd_ttl + 1)
    client = await gateway.provider.get_client(URL)
    assert client is not None and client.client_name == "Renamed" and documents.hits == hits + 1


async def test_unregistered_redirect_uri_is_refused(gateway: Gateway, documents: Documents) -> None:
    documents.docs["/oauth/client.json"] = _doc(redirect_uris=["http://127.0.0.1:1/other"])
    response, _ = await gateway.authorize(URL)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "doc",
    [
        _doc(client_id="https://client.example/someone-else.json"),
        _doc(redirect_uris=[]),
        _doc(redirect_uris=["http://evil.example/cb"]),
        _doc(token_endpoint_auth_method="client_secret_post"),
        b"not json",
        b"{" + b" " * 20_000 + b"}",
    ],
)
async def test_bad_documents_are_refused(gateway: Gateway, documents: Documents, doc: object) -> None:
    documents.docs["/oauth/client.json"] = doc
    assert await gateway.provider.get_client(URL) is None
    response, _ = await gateway.authorize(URL)
    assert response.status_code == 400


async def test_missing_document_is_refused(gateway: Gateway) -> None:
    assert await gateway.provider.get_client("https://client.example/nothing-here.json") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://client.example/oauth/client.json",
        "https://client.example/",
        "https://10.0.0.5/client.json",
        "https://127.0.0.1/client.json",
        "https://user:pw@client.example/client.json",
    ],
)
async def test_fetcher_refuses_unsafe_urls(url: str) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={}))) as http:
        fetcher = MetadataDocumentFetcher(http, resolve_hosts=False)
        with pytest.raises(CimdError):
            await fetcher.fetch(url)


async def test_loopback_http_only_when_allowed() -> None:
    url = "http://127.0.0.1:7000/client.json"
    doc = {"client_id": url, "redirect_uris": [CLIENT_REDIRECT]}
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=doc))) as http:
        with pytest.raises(CimdError):
            await MetadataDocumentFetcher(http, resolve_hosts=False).fetch(url)
        fetched = await MetadataDocumentFetcher(http, allow_loopback_http=True, resolve_hosts=False).fetch(url)
    assert fetched.redirect_uris == (CLIENT_REDIRECT,)


async def test_fetcher_does_not_follow_redirects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://client.example/elsewhere.json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(CimdError, match="HTTP 302"):
            await MetadataDocumentFetcher(http, resolve_hosts=False).fetch(URL)


async def test_hosts_resolving_to_private_addresses_are_refused() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as http:
        with pytest.raises(CimdError, match="private"):
            await MetadataDocumentFetcher(http).fetch("https://localhost/client.json")


def test_redirect_uri_rules() -> None:
    assert redirect_uri_allowed("https://app.example/cb")
    assert redirect_uri_allowed("http://localhost:3000/cb") and redirect_uri_allowed("http://127.0.0.1/cb")
    assert redirect_uri_allowed("com.example.app:/oauth")
    assert not redirect_uri_allowed("http://app.example/cb")
    assert not redirect_uri_allowed("javascript:alert(1)")
    assert not redirect_uri_allowed("https://app.example/cb#frag")


async def test_state_survives_an_error_redirect(gateway: Gateway, documents: Documents) -> None:
    documents.docs["/oauth/client.json"] = _doc()
    response, _ = await gateway.authorize(URL, resource="https://elsewhere.example/mcp")
    assert query_of(response) == {
        "error": "invalid_target",
        "error_description": query_of(response)["error_description"],
        "state": "client-state-1",
    }


async def test_a_refused_document_is_not_fetched_again_for_each_authorization(
    gateway: Gateway, documents: Documents
) -> None:
    missing = "https://client.example/nothing-here.json"
    assert await gateway.provider.get_client(missing) is None
    hits = documents.hits
    for _ in range(3):
        response, _ = await gateway.authorize(missing)
        assert response.status_code == 400
    assert documents.hits == hits
