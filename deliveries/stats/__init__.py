"""Delivery stats: rollups kept as attempts are written, read by the pages and the API.

- ``rollups.py``: ``add_attempts``, called by the engine in the transaction that records
  attempts. ``recount.py``: ``remove_attempts`` (the retention purge), ``compact`` and
  ``rebuild`` (the repair tool).
- ``windows.py``: ``Window`` and the named ranges every page uses (``RANGES``).
- ``parts.py``: a window's rollup rows as parts (daily rows for its whole days, hourly
  for the rest) and their groups summed in one query of cached SQL text.
- ``queries.py``: ``summary``, ``breakdown``, ``trend``, ``delivery_statuses`` and
  ``failure_reasons`` (endpoint health alerts), each
  one query over the rollups for a window, a webhook or a campaign; ``by_campaign`` and
  ``deliveries_by_campaign`` (the campaign list's figures, one query each for a page of
  campaigns) and ``first_activity``; ``figures.py`` holds what they return.
- ``forms.py``, ``pages.py``, ``charts.py``, ``rows.py`` (repeated rows as HTML, for the
  template tags), ``views.py``, ``urls.py``: the stats pages;
  ``api.py``: the stats API (seed 001).

Other apps call ``windows.Window``, the functions of ``queries.py`` (pass
``campaign_id=`` for a campaign's figures), ``forms.StatsWindowForm`` (to subclass) and
the page builders of ``pages.py`` (``stats_context``, ``trend_context``,
``window_context``, ``error_rows``, ``status_rows`` and the log links); the engine also
calls ``rollups.add_attempts`` and ``recount.remove_attempts``. Nothing deeper.
"""
