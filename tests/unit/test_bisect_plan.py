"""Which subdirectories a bisection prefix checks whole rather than test by test."""

from __future__ import annotations

from farm.run.bisect import SUBDIR_CHECK_FROM, subdirs_to_check


def elf(n: int) -> list[str]:
    return [f"glibc/elf/tst-{i}" for i in range(n)]


def test_many_regressed_tests_of_one_subdirectory_make_one_check() -> None:
    assert subdirs_to_check(elf(SUBDIR_CHECK_FROM)) == ("elf",)


def test_a_few_are_run_one_by_one() -> None:
    assert subdirs_to_check(elf(SUBDIR_CHECK_FROM - 1)) == ()


def test_subdirectories_are_counted_apart_and_cases_never_count() -> None:
    tests = [
        *elf(SUBDIR_CHECK_FROM),
        *(f"glibc/dlfcn/t{i}" for i in range(SUBDIR_CHECK_FROM - 1)),
        *(f"farm/elf/case{i}" for i in range(SUBDIR_CHECK_FROM)),
    ]
    assert subdirs_to_check(tests) == ("elf",)


def test_a_whole_subdirectory_item_is_not_a_test_of_it() -> None:
    assert subdirs_to_check(["glibc/elf/"] * SUBDIR_CHECK_FROM) == ()
