"""What a webhook campaign sends: profile-variables payloads and Liquid custom bodies.

``payload`` and ``template`` are pure functions over plain Python data (no models), so
the tests need no database. ``compose`` builds a campaign's bodies from them (for
fan-out, live sends, test sends and the create page's preview) and ``linked`` fetches
linked content over HTTP. ``budget`` bounds every render (work, time, memory) and
``filters`` keeps Liquid's filters within it. ``compiled`` turns the usual template into
a Python function (with ``compiled_runtime``), which ``template`` renders first and
python-liquid renders again whenever it steps off the usual.
"""
