"""The container engine room: the only code that talks to Docker.

`engine` holds the `Engine` (connect, image lookup, build, save/load, base images,
containers, inventory, remove) and the one mapping of engine errors; `container` runs one
command in a throwaway container with a deadline; `gc` lists and removes the farm's images,
containers and caches by their labels; `registry` pushes and pulls built images so a second
machine need not rebuild them. Code outside this package takes an `Engine`, never a Docker
client.
"""
