"""``farm watch``: the farm as a patchwork bot (issue 18).

One module per concern: `state` (what survives a restart: the SQLite database and its lock),
`skip` (which series ask not to be tested, a pure rule), `poll` (what patchwork has posted
since the cursor, and the series' mails), `executor` (the seam that tests one series: the
`TestSeries` callable, and the one that runs ``farm run`` today), `revisions` (what changed
since a series' previous revision, said in its report and checks) and `loop` (the watcher
itself: queue, retries, deadlines, checks posted). ``farm/commands/watch_cmd.py`` is the
command line.
"""
