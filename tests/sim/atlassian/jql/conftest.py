from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policyarc.sim.atlassian.jql import JqlContext
from policyarc.sim.atlassian.model import World
from policyarc.sim.atlassian.seed import ALICE, BOB, build_world

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # a Friday


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()


@pytest.fixture
def alice(world: World) -> JqlContext:
    site = world.sites["acme"]
    return JqlContext(world, site, ALICE, NOW, frozenset(site.projects))


@pytest.fixture
def bob(world: World) -> JqlContext:
    return JqlContext(world, world.sites["acme"], BOB, NOW, frozenset({"ENG", "OPS", "MKT"}))
