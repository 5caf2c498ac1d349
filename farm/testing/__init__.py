"""Running tests inside built images: the only code that knows pytest and glibc's test runner.

`runner` turns a cell's cases and glibc tests into items and runs one item in a container;
`pytest_plugin` and ``testsuite/`` are how pytest-xdist spreads those items over workers;
`glibc_check`, `glibc_test` and `glibc_sum` drive glibc's own ``make check`` / ``make test``
and read its ``.sum`` and ``.test-result`` files into outcomes.
"""
