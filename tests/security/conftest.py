"""The security suite reuses the OAuth harness's fixtures (`gateway`, `documents`) and the e2e product."""

from tests.oauth.conftest import documents, gateway

__all__ = ["documents", "gateway"]
