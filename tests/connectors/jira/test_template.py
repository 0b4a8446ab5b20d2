import httpx
import pytest

from policyarc.connectors.jira.template import SiteLookupError, normalise_site, resolve_cloud_id

CLOUD = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"


@pytest.mark.parametrize(
    ("raw", "site"),
    [("acme", "acme"), (" ACME ", "acme"), ("acme.atlassian.net", "acme"), ("https://acme.atlassian.net/", "acme")],
)
def test_site_forms_are_normalised(raw: str, site: str) -> None:
    assert normalise_site(raw) == site


@pytest.mark.parametrize(
    "raw", ["", "-acme", "acme corp", "acme/../x", "acme.evil.com", "a" * 64, "acme?x=1", "évil", "acme@x"]
)
def test_anything_else_is_refused_before_any_url_is_built(raw: str) -> None:
    with pytest.raises(SiteLookupError) as info:
        normalise_site(raw)
    assert info.value.code == "invalid_site"


def transport(status: int, body: object = None) -> tuple[httpx.AsyncClient, list[str]]:
    urls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), urls


async def test_cloud_id_comes_from_tenant_info() -> None:
    http, urls = transport(200, {"cloudId": CLOUD})
    assert await resolve_cloud_id(http, "https://{site}.atlassian.net", "acme") == CLOUD
    assert urls == ["https://acme.atlassian.net/_edge/tenant_info"]


async def test_unknown_site_says_so() -> None:
    http, _ = transport(404)
    with pytest.raises(SiteLookupError, match="no Atlassian site named acmee") as info:
        await resolve_cloud_id(http, "https://{site}.atlassian.net", "acmee")
    assert info.value.code == "site_not_found"


async def test_garbage_answer_is_an_error_not_a_cloud_id() -> None:
    http, _ = transport(200, {"cloudId": "not-a-uuid"})
    with pytest.raises(SiteLookupError):
        await resolve_cloud_id(http, "https://{site}.atlassian.net", "acme")


async def test_unreachable_site() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    http = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    with pytest.raises(SiteLookupError) as info:
        await resolve_cloud_id(http, "https://{site}.atlassian.net", "acme")
    assert info.value.code == "site_unreachable"
