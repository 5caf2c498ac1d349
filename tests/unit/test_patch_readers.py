"""How a series' source becomes patches: one reader per kind of source, in one pass.

`farm.inputs.sources` fetches a source's bytes and hands them to `farm.inputs.series`, which
only parses them; the kinds a scenario can name are `farm.plan.scenario.PatchSource`, and each
has exactly one reader in `farm.inputs.sources.PATCH_READERS`, so a new kind without a reader
fails here, not at the first run that names it.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from farm.inputs import series, sources
from farm.plan.scenario import PatchSource


def test_every_kind_of_patch_source_has_a_reader() -> None:
    kinds = set(typing.get_args(PatchSource))
    assert len(kinds) == 7
    assert set(sources.PATCH_READERS) == kinds


def test_series_parses_what_it_is_handed_and_never_calls_back_into_sources() -> None:
    tree = ast.parse(Path(series.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        f"farm.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "farm"
        for alias in node.names
    }
    assert "farm.inputs.sources" not in imported
    assert "farm.command" in imported  # the scan sees farm imports: git mailsplit is one
