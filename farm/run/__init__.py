"""The stages of a run, as one library: `stages` (prepare, build, probe, test, bisect, judge,
report behind frozen `RunOptions`), `build` (images in dependency order, with their states),
`pipeline` (probe the built cells, run their tests, resume an interrupted run) and `bisect`
(the first patch of a series that makes a regression appear). Every command and bench calls
these; none re-orchestrates them.
"""
