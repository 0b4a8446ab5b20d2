"""Policy: may this signed-in user, through this MCP client, hold this gateway scope? Decided in Cedar.

    engine = PolicyEngine(text, version=3, scopes=registry_scopes)   # parse and validate once
    engine.allowed(Principal.of(caller), ClientInfo.of(caller), "jira:issues:read")

`PolicyRegistry` holds the engine in force per environment; `rules` converts between the console's form and
Cedar text; `DEFAULT_POLICY` is what a new environment starts with.
"""

from policyarc.policy.default import DEFAULT_POLICY, DEFAULT_RULES, DEFAULT_SCOPE
from policyarc.policy.engine import PolicyEngine, validate_policy
from policyarc.policy.errors import PolicyError
from policyarc.policy.registry import PolicyRegistry
from policyarc.policy.rules import Rule, cedar_string, cedar_to_rules, rules_to_cedar
from policyarc.policy.schema import ClientInfo, Principal, schema_json, schema_text

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_RULES",
    "DEFAULT_SCOPE",
    "ClientInfo",
    "PolicyEngine",
    "PolicyError",
    "PolicyRegistry",
    "Principal",
    "Rule",
    "cedar_string",
    "cedar_to_rules",
    "rules_to_cedar",
    "schema_json",
    "schema_text",
    "validate_policy",
]
