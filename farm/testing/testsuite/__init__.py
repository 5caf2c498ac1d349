"""The pytest module `farm test` runs; its items come from the run spec (see pytest_plugin)."""
