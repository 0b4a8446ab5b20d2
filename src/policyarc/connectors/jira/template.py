"""The Jira (user passthrough) connector template: its fields, and the site -> cloud ID look-up."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

# Atlassian site names: lowercase letters, digits and hyphens. Nothing else ever reaches a URL.
SITE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CLOUD_ID_PATTERN = re.compile(r"^[0-9a-fA-F-]{36}$")
TEMPLATE_ID = "jira-user"


class SiteLookupError(Exception):
    """The site name is invalid or unknown, or Atlassian could not be asked. `message` says what to fix."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class JiraUserTemplate:
    """Metadata the console and the API show for this template."""

    id: str = TEMPLATE_ID
    name: str = "Jira (user passthrough)"
    idp_kind: str = "atlassian"
    description: str = "Every call runs as the signed-in user, with their own Atlassian token."


def normalise_site(raw: str) -> str:
    """Accept `acme`, `acme.atlassian.net` or `https://acme.atlassian.net/`; return `acme` or raise."""
    site = raw.strip().lower()
    site = re.sub(r"^https?://", "", site).rstrip("/")
    site = site.removesuffix(".atlassian.net")
    if not SITE_PATTERN.fullmatch(site):
        raise SiteLookupError(
            f"'{raw.strip()[:80]}' is not an Atlassian site name: use the part before .atlassian.net "
            "(lowercase letters, digits and hyphens).",
            code="invalid_site",
        )
    return site


def validate_cloud_id(raw: str) -> str:
    cloud_id = raw.strip()
    if not CLOUD_ID_PATTERN.fullmatch(cloud_id):
        raise SiteLookupError("The cloud ID must be a UUID like 4f2d9c1e-8a7b-....", code="invalid_cloud_id")
    return cloud_id.lower()


async def resolve_cloud_id(http: httpx.AsyncClient, site_url_template: str, site: str) -> str:
    """Ask `https://{site}.atlassian.net/_edge/tenant_info` (no auth) for the site's cloud ID."""
    site = normalise_site(site)
    url = site_url_template.replace("{site}", site).rstrip("/") + "/_edge/tenant_info"
    try:
        response = await http.get(url, timeout=10.0)
    except httpx.HTTPError as exc:
        raise SiteLookupError(
            f"Could not reach {site}.atlassian.net ({type(exc).__name__}); try again.", code="site_unreachable"
        ) from exc
    if response.status_code == 404:
        raise SiteLookupError(f"There is no Atlassian site named {site}.", code="site_not_found")
    if response.status_code != 200:
        raise SiteLookupError(
            f"{site}.atlassian.net answered HTTP {response.status_code}; try again.", code="site_unreachable"
        )
    try:
        cloud_id = response.json()["cloudId"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SiteLookupError(f"{site}.atlassian.net gave no cloud ID.", code="site_unreachable") from exc
    return validate_cloud_id(str(cloud_id))
