"""Segment benchmark tooling: ``seeding.seed`` writes a realistic audience at scale
(profiles and their events, by COPY), and ``cases.RULES`` is one rule per category that
``bench_segments`` times."""
