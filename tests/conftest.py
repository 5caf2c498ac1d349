"""The whole test session gets its own farm config directory, hence its own flaky-history
key (``farm.history.load_key``): a test never reads or makes the key of the user running
it, and the farm processes the integration tests start share the session's key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_history_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    config = tmp_path_factory.mktemp("farm-config")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FARM_CONFIG", str(config))
        patch.delenv("FARM_HISTORY_KEY", raising=False)
        yield config
