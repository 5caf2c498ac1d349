"""The Debian archive keyring on a host that trusts no Debian key (a stock Ubuntu runner):
fetching glibc's source fails with a message that names the missing keyring and the
package to install, not apt's bare exit 100; and ``farm doctor`` reports it missing.

Real apt against Debian's real archive, with the host's own trusted keys hidden from it
(``APT_CONFIG``, which apt reads before anything else) and the keyring path pointed at a
file that does not exist, as on a host without the package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.commands import doctor_cmd
from farm.errors import SourceError
from farm.inputs import sources
from farm.plan.scenario import load_scenario
from tests.integration.conftest import DEFAULT

pytestmark = pytest.mark.integration


def test_no_trusted_debian_key_is_an_error_that_says_to_install_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "trusted.gpg.d"
    empty.mkdir()
    config = tmp_path / "apt.conf"
    config.write_text(
        f'Dir::Etc::Trusted "{tmp_path / "none.gpg"}";\nDir::Etc::TrustedParts "{empty}/";\n'
    )
    monkeypatch.setenv("APT_CONFIG", str(config))
    missing = tmp_path / "debian-archive-keyring.gpg"
    monkeypatch.setattr(sources, "DEBIAN_ARCHIVE_KEYRING", missing)
    fetcher = sources.Fetcher(sources.Cache(tmp_path / "cache"), load_scenario(DEFAULT))
    with pytest.raises(SourceError) as error:
        fetcher.glibc_tree()
    message = str(error.value)
    assert f"no Debian archive key is trusted here ({missing} is missing)" in message
    assert "sudo apt-get install debian-archive-keyring" in message

    ok, what, fix = doctor_cmd.debian_keyring_check(missing)
    assert not ok and str(missing) in what and "debian-archive-keyring" in fix
    assert doctor_cmd.debian_keyring_check(Path(__file__))[0]  # any file that is there
