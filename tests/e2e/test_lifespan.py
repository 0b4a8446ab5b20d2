"""What the gateway's lifespan does to its process besides starting its parts."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.e2e.harness import running_product


async def test_startup_objects_are_frozen_while_serving_and_released_at_shutdown(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    async with running_product(tmp_path):
        assert gc.get_freeze_count() > 10_000  # modules, the app, the schemas: out of every full collection
    assert gc.get_freeze_count() == 0  # a test process does not keep them forever
