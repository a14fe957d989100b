"""Reproducible benchmarks; results are written to ``benchmarks/results/``."""
