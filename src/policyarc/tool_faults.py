"""What a tool call that failed unexpectedly becomes: a tool error with a stable code, and a log line.

A handler, the Markdown converter or the pipeline itself may raise something nobody foresaw (a bug, an input
no check covers). The agent then gets `internal_error` with what to do, the audit log gets its record (the
pipeline writes it), and the log gets where it happened. The log line names the exception's type and the
frames of its traceback but not its message: a message may quote the arguments (a description, a field
value) or an upstream answer, and neither belongs in a log.
"""

from __future__ import annotations

import logging
import traceback

from policyarc.connectors.base import ToolFailure

logger = logging.getLogger(__name__)

INTERNAL_ERROR = (
    "The gateway hit an unexpected fault while running '{tool}' (internal_error). If the tool changes Jira, "
    "check the issue before retrying: the change may have been made. The same call is likely to fail the same "
    "way; tell your PolicyArc admin the time of this call so they can find it in the gateway's log."
)


def internal_failure(tool: str, user_id: str, exc: BaseException) -> ToolFailure:
    """Log `exc` (type and frames, no message) and return the tool error the caller sees."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    logger.error(
        "tool %s failed for user %s with %s (message withheld: it may quote the arguments)\nTraceback:\n%s",
        tool,
        user_id,
        type(exc).__qualname__,
        frames.rstrip("\n"),
    )
    return ToolFailure("internal_error", INTERNAL_ERROR.format(tool=tool))
