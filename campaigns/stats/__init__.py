"""A campaign's stats page (/admin/campaigns/<pk>/stats) and the campaign list's figures.

- ``queries.py``: the audience figures, from runs and recipients (targets, control,
  profiles reached, goal conversions); delivery figures come from the delivery rollups
  through ``deliveries.stats``.
- ``forms.py``: the page's window (the webhook stats pages' windows, plus the campaign's
  whole life); ``pages.py``: what the page shows, each figure with the link that lists it;
  ``views.py``, ``urls.py``: the page, its trend and audience fragments.
- ``bench.py``: a sent campaign at scale for ``bench_stats --campaign``.
"""
