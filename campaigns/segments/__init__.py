"""Segments: who a campaign reaches, as a rule over profiles and their events.

- ``rules.py``: what a rule says, as JSON (seed 002's six categories), validated;
  ``conditions.py``: one condition on a property (operators, value types);
  ``describe.py``: a rule in a sentence; ``checks.py``: rules that can never match.
- ``evaluate.py``: a rule as one SQL query (count, sample, snapshot and chunks for
  fan-out, qualifying events); ``properties.py``: a condition as SQL over a JSON column.
- ``builder.py``, ``views.py``, ``urls.py``: the builder page and the segment list;
  ``vocabulary.py``: the names it suggests; ``api.py``: the segments API.
"""
