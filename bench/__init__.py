"""Benchmark scripts: they print numbers; tests never time things."""
