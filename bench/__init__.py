"""Benchmarks: ``make bench`` prints every figure the issues name (medians of repeated runs)."""
