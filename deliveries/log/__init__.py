"""The delivery log: the pages admins read and act on.

``filtersets.py`` is the log's query contract, ``queries.py`` reads a page of it (keyset
pages from ``config.keyset``, a bounded count), ``presenting.py`` shapes one delivery's
attempts for its detail view, ``bulk.py`` retries every failed delivery matching the
filters in the background (``tasks.py``), and ``views/`` routes the requests.
"""
