"""One module per ``farm`` subcommand; each ``run(args)`` returns the exit status."""
