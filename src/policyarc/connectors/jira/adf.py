"""Atlassian Document Format (ADF) conversions for the Jira tools.

Jira Cloud's v3 API speaks ADF for descriptions and comments; agents read and write Markdown.
Both directions are total (any input gives a result, never an exception) and cheap enough for every call.
"""

from __future__ import annotations

from policyarc.connectors.jira.adf_to_markdown import adf_to_markdown
from policyarc.connectors.jira.markdown_to_adf import markdown_to_adf

__all__ = ["adf_to_markdown", "markdown_to_adf"]
