"""farm.plan.shard: ``--shard I/N`` splits a run's items so that every item runs exactly once,
a glibc subdirectory or case family stays together, and every job computes the same split."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm.cli import main
from farm.errors import UsageError
from farm.plan.scenario import Arch
from farm.plan.shard import Shard, select, shard_unit
from farm.testing.runner import TestItem

tests = st.sampled_from(
    [
        "glibc/elf/",
        "glibc/dlfcn/",
        "glibc/nptl/",
        "glibc/misc/tst-rseq",
        "glibc/misc/tst-rseq-disable",
        "farm/dlmopen/newlm-isolation",
        "farm/dlmopen/libc-in-namespace",
        "farm/rseq/registered",
        "farm/unique/basic",
    ]
)
items = st.lists(
    st.builds(
        TestItem,
        scenario=st.just("s"),
        arch=st.sampled_from(list(Arch)),
        variant=st.sampled_from(["baseline", "series"]),
        image=st.just("img"),
        test=tests,
        timeout_factor=st.just(1.0),
    ),
    unique_by=lambda item: (item.cell, item.test),
    max_size=30,
)


@given(items, st.integers(min_value=1, max_value=5))
def test_every_item_runs_in_exactly_one_shard(run: list[TestItem], count: int) -> None:
    shards = [select(run, Shard(index, count)) for index in range(1, count + 1)]
    assert sorted((i.cell, i.test) for s in shards for i in s) == sorted(
        (i.cell, i.test) for i in run
    )


@given(items, st.integers(min_value=1, max_value=5), st.randoms())
def test_the_split_does_not_depend_on_item_order(
    run: list[TestItem], count: int, shuffler: random.Random
) -> None:
    shuffled = list(run)
    shuffler.shuffle(shuffled)
    for index in range(1, count + 1):
        assert {i.id for i in select(run, Shard(index, count))} == {
            i.id for i in select(shuffled, Shard(index, count))
        }


@given(items, st.integers(min_value=2, max_value=5))
def test_a_unit_stays_in_one_shard_and_shards_are_balanced(run: list[TestItem], count: int) -> None:
    owners: dict[tuple[str, str], int] = {}
    per_shard: dict[str, list[int]] = {}
    for index in range(1, count + 1):
        units = {(i.cell, shard_unit(i.test)) for i in select(run, Shard(index, count))}
        for key in units:
            assert owners.setdefault(key, index) == index, key
        for cell in {i.cell for i in run}:
            per_shard.setdefault(cell, []).append(sum(1 for c, _ in units if c == cell))
    for counts in per_shard.values():
        assert max(counts) - min(counts) <= 1, counts


def test_units_are_subdirectories_and_families() -> None:
    assert shard_unit("glibc/elf/") == shard_unit("glibc/elf/tst-dlmopen1") == "glibc/elf"
    assert shard_unit("farm/dlmopen/newlm-isolation") == "farm/dlmopen"


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_malformed_shard_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="expected I/N"):
        Shard.parse(text)


def test_the_cli_refuses_a_shard_it_would_gate_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--shard", "1/2"]) == 2
    assert "--shard 1/2 needs --no-gate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # refused while parsing, as every bad argument
        main(["test", "--shard", "3/2"])
    assert refused.value.code == 2
    assert "expected I/N" in capsys.readouterr().err
