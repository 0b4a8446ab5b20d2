"""The admin JSON API (`/api/v1/...`), with its OpenAPI 3.1 document at `/api/v1/openapi.json`.

api = AdminApi(sessions=..., keyring=..., http=..., public_url=settings.public_url,
               site_url_template=settings.atlassian_site_url, scopes=gateway_scopes(), listeners=[watcher])
routes += create_api_routes(api, authenticators=[ApiKeyAuthenticator(sessions)])
"""

from policyarc.api.auth import AdminAuthenticator, ApiKeyAuthenticator
from policyarc.api.errors import PROBLEM_MEDIA_TYPE, Problem
from policyarc.api.handlers import AdminApi, ChangeKind, ChangeListener, ReloadOn
from policyarc.api.routes import PREFIX, create_api_routes, endpoint_table

__all__ = [
    "PREFIX",
    "PROBLEM_MEDIA_TYPE",
    "AdminApi",
    "AdminAuthenticator",
    "ApiKeyAuthenticator",
    "ChangeKind",
    "ChangeListener",
    "Problem",
    "ReloadOn",
    "create_api_routes",
    "endpoint_table",
]
