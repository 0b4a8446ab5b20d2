"""Atlassian Document Format (ADF) conversions for the Jira tools.

Jira Cloud's v3 API speaks ADF for descriptions and comments; agents read and write Markdown.
Both directions are total (any input gives a result, never an exception) and linear in their input;
`markdown_to_adf_async` moves a long text's conversion off the event loop.
"""

from __future__ import annotations

from policyarc.connectors.jira.adf_to_markdown import adf_to_markdown
from policyarc.connectors.jira.markdown_to_adf import markdown_to_adf, markdown_to_adf_async

__all__ = ["adf_to_markdown", "markdown_to_adf", "markdown_to_adf_async"]
