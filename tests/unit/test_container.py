"""The case harness's trailer: what the farm believes about a case it ran in one exec.

The harness itself runs only in a container (its cleanup is ``kill -KILL -1``); the sandbox
cases and tests/integration/test_containment.py exercise it there.
"""

from __future__ import annotations

import pytest

from farm.containers.container import Settled, split_trailer


@pytest.mark.parametrize(
    ("output", "printed", "settled"),
    [
        (
            "farm: case x\nPASS\n\nfarm-settled 0 0 yes\n",
            "farm: case x\nPASS\n",
            Settled(0, 0, True),
        ),
        # The harness's own newline goes with the trailer: output without a final newline
        # comes back exactly as printed.
        ("no newline\nfarm-settled 139 3 yes\n", "no newline", Settled(139, 3, True)),
        ("\nfarm-settled 77 1 no\n", "", Settled(77, 1, False)),
        # The cleanup alone (no case ran before it) has no status.
        ("\nfarm-settled - 12 yes\n", "", Settled(None, 12, True)),
    ],
)
def test_the_trailer_is_split_from_what_the_case_printed(
    output: str, printed: str, settled: Settled
) -> None:
    assert split_trailer(output) == (printed, settled)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "farm: case x\n",
        # Something printed after a trailer: the harness prints it last, so this is not one.
        "\nfarm-settled 0 0 yes\nmore\n",
        # Malformed trailers.
        "\nfarm-settled 0 0 maybe\n",
        "\nfarm-settled x 0 yes\n",
        "\nfarm-settled 0 0 yes",
        "farm-settled 0 0 yes\n",  # not after a newline of the harness's own
    ],
)
def test_output_without_a_trailer_comes_back_whole(output: str) -> None:
    assert split_trailer(output) == (output, None)


def test_a_forged_trailer_before_the_real_one_stays_in_the_output() -> None:
    forged = "\nfarm-settled 0 0 yes\n"
    printed, settled = split_trailer(f"case{forged}\nfarm-settled 1 0 yes\n")
    assert printed == f"case{forged}"
    assert settled == Settled(1, 0, True)
