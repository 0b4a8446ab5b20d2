"""Fakes shared by tests that drive `ToolPipeline` without a database."""

from __future__ import annotations

from policyarc.mcp_endpoint import AuditEntry


class MemoryAudit:
    """An `AuditSink` in memory: `intents` are writes recorded before they were sent, `entries` finished calls."""

    def __init__(self) -> None:
        self.intents: list[AuditEntry] = []
        self.entries: list[AuditEntry] = []

    async def record_intent(self, entry: AuditEntry) -> int:
        self.intents.append(entry)
        return len(self.intents)

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)
