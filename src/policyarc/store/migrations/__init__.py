"""Alembic migrations for the gateway's store; run them with `policyarc.store.migrate.upgrade`."""
