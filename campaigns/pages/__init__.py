"""Campaign pages: the list, one campaign with its runs, and pause/resume/stop.

- ``filters.py``: the list's FilterSet (search, status, delivery type, sort);
  ``queries.py``: each sort's keyset column (per database) and each row's delivery
  figures from the rollups.
- ``views.py``, ``urls.py``: the list, the detail page and its polled runs section, and
  the actions, which ``campaigns.sending`` carries out (``can`` says which it offers).
"""
