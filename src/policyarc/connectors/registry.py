"""Connector templates as data: what the console's gallery, form and status screen are drawn from.

A template names the identity provider that unlocks it, the fields an admin fills in (and which field a look-up
fills from another), and the tools it offers with the gateway scope each needs. A new template is a new entry
here built from its own folder under `connectors/`; nothing in the console names Jira.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policyarc.connectors.base import ToolSpec
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.connectors.jira.template import TEMPLATE_ID as JIRA_USER

__all__ = ["TEMPLATES", "FormField", "Template", "ToolInfo", "template"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    hint: str
    placeholder: str = ""
    required: bool = True
    filled_from: str | None = None  # another field whose value a server look-up turns into this one


@dataclass(frozen=True)
class ToolInfo:
    name: str
    title: str
    scope: str
    read_only: bool


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    idp_kind: str  # the identity provider that unlocks it
    idp_name: str
    fields: tuple[FormField, ...]
    tools: tuple[ToolInfo, ...]

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tool.scope for tool in self.tools))


def _tools(specs: Sequence[ToolSpec[object]] | Sequence[ToolSpec[object]]) -> tuple[ToolInfo, ...]:
    return tuple(ToolInfo(s.name, s.title, s.scope, s.hints.read_only) for s in specs)


JIRA_USER_TEMPLATE = Template(
    id=JIRA_USER,
    name="Jira (user passthrough)",
    description=(
        "Search, read, create and move Jira issues as the signed-in user, with their own Atlassian token: "
        "Jira's permissions and audit trail apply to every call."
    ),
    idp_kind="atlassian",
    idp_name="Atlassian",
    fields=(
        FormField(
            name="site",
            label="Atlassian site",
            hint="The subdomain of your Jira URL: acme for https://acme.atlassian.net.",
            placeholder="acme",
        ),
        FormField(
            name="cloud_id",
            label="Atlassian cloud ID",
            hint="Leave it blank: it is filled in from the site.",
            required=False,
            filled_from="site",
        ),
    ),
    tools=_tools(JIRA_TOOLS),  # type: ignore[arg-type]
)

TEMPLATES: dict[str, Template] = {JIRA_USER_TEMPLATE.id: JIRA_USER_TEMPLATE}


def template(template_id: str) -> Template | None:
    return TEMPLATES.get(template_id)
