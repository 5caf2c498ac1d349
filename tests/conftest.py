"""The whole test session gets its own flaky history and its own key to sign it.

The key (``farm.judging.history.load_key``) lives in a session config directory: a test never
reads or makes the key of the user running it, and the farm processes the integration tests
start share the session's key. The history lives in a session cache directory
(``farm.judging.history.default_path``): a test never judges with records an earlier session
left (signed with that session's key, every one a warning, and evidence this session did not
make), and never writes into the user's own history, where its records would later excuse a real
regression on the same images. The rest of the cache (downloads, content-addressed blobs, the
scenarios' image records that ``farm gc`` keeps) is the real one, reached through links, so a
session pays no download twice and ``farm gc`` still knows the images the tests use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from farm.inputs.sources import default_cache_dir

#: What the session cache shares with the real cache: everything but the history.
SHARED_CACHE_ENTRIES = ("blobs", "tmp", "downloads", "debian", "apt", "images")


@pytest.fixture(autouse=True, scope="session")
def _own_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    config = tmp_path_factory.mktemp("farm-config")
    real_cache = default_cache_dir()
    cache = tmp_path_factory.mktemp("farm-cache")
    for name in SHARED_CACHE_ENTRIES:
        (real_cache / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(real_cache / name, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FARM_CONFIG", str(config))
        patch.setenv("FARM_CACHE", str(cache))
        patch.delenv("FARM_HISTORY_KEY", raising=False)
        yield cache
