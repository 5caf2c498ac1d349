"""The rules of `farm.inputs.sources` that the other source tests leave out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from farm.errors import SourceError
from farm.inputs.sources import LockFile


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '"sha256"', '{"sha256": "abc"}', '{"sha256": {"url:a": 5}}']
)
def test_a_lock_file_that_is_not_the_farms_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    """Read as empty, it was overwritten by the next record; some of these were tracebacks."""
    lock = LockFile(tmp_path / "demo.yaml")
    lock.path.write_text(text)
    with pytest.raises(SourceError, match=rf"^{re.escape(str(lock.path))}: .*delete it to re-lock"):
        lock.get("url:a")
    with pytest.raises(SourceError):
        lock.record("url:a", "a" * 64)
    assert lock.path.read_text() == text
