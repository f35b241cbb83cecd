"""Benchmark tooling: ``seeding.seed`` writes realistic history at scale for the log and
stats benchmarks, and ``receiver.py`` is the fast local receiver of ``bench_deliveries``."""
