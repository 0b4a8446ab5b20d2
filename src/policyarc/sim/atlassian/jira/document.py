"""Atlassian Document Format (ADF) on the REST routes: accept a rich-text value, render `renderedFields`.

One validator and one HTML renderer serve the whole simulator (`adf.validate_adf`, `adf_html.adf_to_html`),
so what the routes accept and how they render (escaped, unsafe link schemes dropped) is defined once.
"""

from __future__ import annotations

from typing import Any

from policyarc.sim.atlassian.adf import INVALID_DOCUMENT_MESSAGE, validate_adf
from policyarc.sim.atlassian.adf_html import adf_to_html

NOT_A_DOCUMENT = INVALID_DOCUMENT_MESSAGE


def is_document(value: Any) -> bool:
    """True when `value` is an ADF document Jira would accept for a rich-text field."""
    return not validate_adf(value)


def to_html(doc: dict[str, Any] | None) -> str | None:
    """Jira's `renderedFields` value for a rich-text field; None when the field is empty."""
    return adf_to_html(doc) if doc else None
