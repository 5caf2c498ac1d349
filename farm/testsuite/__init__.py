"""The pytest module `farm test` runs; items come from the run spec via farm.pytest_plugin."""
