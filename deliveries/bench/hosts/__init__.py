"""The several-hosts run (``manage.py bench_hosts``): the portal's parts as separate hosts
in Linux network namespaces on one machine, under load and faults, and a verdict.

- ``run.py``: ``run(Options, say) -> Outcome``, the run start to end, and its ``layout``;
- ``network.py``: the bridge, one namespace and veth link per host, cutting a link, and
  removing what a crashed run left (every name starts with ``wph-``);
- ``forwarder.py``: the hosts' only way to PostgreSQL and Redis (a process of its own);
- ``receiver.py``: the receivers, which log every request (a process of their own);
- ``roles.py``: what each host runs (gunicorn, a Celery worker, beat) and its environment;
- ``portal.py``: the scratch database, the broker and the run's rows, seen from the root
  namespace;
- ``traffic.py``: the events posted through both web servers, and the faults;
- ``verdict.py``: settled, lost, duplicated and overlapping, from the data gathered;
- ``report.py``: the lines it prints, with what the beats' and workers' logs say.

The processes of ``forwarder.py`` and ``receiver.py`` run without Django: this package
imports nothing when it is loaded.
"""
