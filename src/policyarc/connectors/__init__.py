"""Connector templates and the tools they offer (see base.py)."""
