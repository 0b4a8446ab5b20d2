"""What an admin can do, as plain async functions over a session: the admin API and the CLI both call these.

Each function validates its input, raises a `ServiceError` (errors.py) that says what to fix, records the
change in `admin_changes` with the actor given, and leaves committing to the caller unless its docstring says
otherwise.
"""

from policyarc.services.audit import (
    AuditFilter,
    AuditRecordView,
    ChangeView,
    audit_records_by_id,
    export_audit_jsonl,
    list_changes,
    tail_audit,
)
from policyarc.services.connectors import (
    ConnectorView,
    ResolvedSite,
    add_jira_connector,
    list_connectors,
    remove_connector,
    resolve_site,
)
from policyarc.services.environments import (
    DEFAULT_ENVIRONMENT,
    EnvironmentView,
    create_environment,
    describe_environment,
    ensure_environment,
    get_environment,
    list_environments,
    mcp_url,
    resource_metadata_url,
)
from policyarc.services.errors import Conflict, InvalidInput, InvalidPolicy, NotFound, ServiceError, Unavailable
from policyarc.services.idp import IdpView, callback_url, set_idp, show_idp
from policyarc.services.keys import SweepResult, reencrypt_secrets
from policyarc.services.policies import (
    PolicyView,
    check_policy,
    gateway_scopes,
    policy_history,
    policy_version,
    set_policy,
    show_policy,
)

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "AuditFilter",
    "AuditRecordView",
    "ChangeView",
    "Conflict",
    "ConnectorView",
    "EnvironmentView",
    "IdpView",
    "InvalidInput",
    "InvalidPolicy",
    "NotFound",
    "PolicyView",
    "ResolvedSite",
    "ServiceError",
    "SweepResult",
    "Unavailable",
    "add_jira_connector",
    "audit_records_by_id",
    "callback_url",
    "check_policy",
    "create_environment",
    "describe_environment",
    "ensure_environment",
    "export_audit_jsonl",
    "gateway_scopes",
    "get_environment",
    "list_changes",
    "list_connectors",
    "list_environments",
    "mcp_url",
    "policy_history",
    "policy_version",
    "reencrypt_secrets",
    "remove_connector",
    "resolve_site",
    "resource_metadata_url",
    "set_idp",
    "set_policy",
    "show_idp",
    "show_policy",
    "tail_audit",
]
