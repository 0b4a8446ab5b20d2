"""The policy every new environment starts with: every signed-in user, on every client, may read Jira issues.

It is written by `rules_to_cedar`, so the console opens it as a form, not as hand-written text.
"""

from __future__ import annotations

from policyarc.policy.rules import Rule, rules_to_cedar

DEFAULT_SCOPE = "jira:issues:read"
DEFAULT_RULES: tuple[Rule, ...] = (Rule(effect="permit", who="anyone", scopes=(DEFAULT_SCOPE,)),)
DEFAULT_POLICY: str = rules_to_cedar(DEFAULT_RULES)
