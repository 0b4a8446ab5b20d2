"""The gateway's database: models, engines and sessions, and migrations.

Wiring, in the app's lifespan: `engine = create_engine(settings.database_url)`, then `await upgrade(engine)`,
then `sessions = session_factory(engine)`; dispose of the engine on shutdown.
"""

from policyarc.store.engine import create_engine, session_factory
from policyarc.store.migrate import current_revision, head_revision, upgrade

__all__ = ["create_engine", "current_revision", "head_revision", "session_factory", "upgrade"]
