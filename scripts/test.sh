#!/usr/bin/env bash
# The project's test command (the README's second command runs it after setup-host.sh):
# lint, types, the fast unit tests, a built wheel, then the integration tests on real
# Docker and real glibc. Exits non-zero on any failure; a run that executed no test is a
# failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv/bin
"$venv/ruff" check farm tests bench
"$venv/ruff" format --check farm tests bench
"$venv/mypy"
"$venv/pytest" tests/unit -n 2 -q
# A wheel of this checkout, installed (not editable) into a fresh venv, renders and lists
# the default scenario from outside the checkout: what a user's `pip install .` gets.
"$venv/pytest" tests/package -q
# The case library on the host's own glibc (both arches): proves each case's claimed outcome.
"$venv/pytest" tests/host -n 2 -q
# Integration tests share images and the Docker engine's two cores: run them in one process.
"$venv/pytest" tests/integration -m integration -q -x --durations=15
