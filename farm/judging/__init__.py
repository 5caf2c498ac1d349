"""Judging a run: from recorded outcomes to a verdict.

`gate` is the pure rule book (baseline against series, expectations, reproduction); `history`
is the flaky history that may excuse a flip only with evidence; `verdict` reads a run
directory, asks the gate and writes the reports; `compare` sets two run directories of one
scenario side by side (a series' revision against the previous one).
"""
