"""Small aliases shared across the gateway (bottom of the import graph: imports nothing from policyarc)."""

from __future__ import annotations

from typing import Any, Literal

JSONObject = dict[str, Any]

# Upstream link state: `reconnect` means the IdP refused the refresh token and the user must sign in again.
LinkStatus = Literal["active", "reconnect"]
# How an MCP client came to be known: RFC 7591 registration, or a Client ID Metadata Document URL.
ClientKind = Literal["dcr", "cimd"]
