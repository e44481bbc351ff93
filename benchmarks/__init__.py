"""Benchmarks: scripts outside the package (importable as `benchmarks.benchmark` from the
repository root, for its tests)."""
