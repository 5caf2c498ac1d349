"""The plan of a run: what a scenario file asks for, before anything is fetched or built.

`scenario` loads and validates the YAML (with file:line in every error) into a typed
`Scenario` and its `expectation`s; `matrix` expands it into cells (arch x toolchain x
variant) with stable ids; `toolchain` knows the Debian releases a cell can be built on;
`render` turns the scenario's image decisions into Dockerfiles from the templates in
``images/``; `shard` splits a cell's tests into shards. Nothing here talks to Docker or the
network.
"""
