"""Segment benchmark: the time to evaluate one realistic rule of each category.

Run it on the data of ``seed_audience`` (PostgreSQL). An evaluation is what a campaign
send does: compute the members once (``evaluate.snapshot``: their count), then stream
all their ids. ``preview_seconds`` is what the builder's preview runs instead (a count
and a sample). The median of --repeat runs is printed, one line per category, then the
largest median as ``max_seconds=``. Memory stays flat while streaming: ``rss_growth_mb``
is the process's peak RSS growth since the start, and ``stream_peak_kb`` the peak of
Python allocations during one more stream of all the ids (traced, so untimed).
"""

import resource
import statistics
import time
import tracemalloc

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.bench.cases import RULES
from campaigns.models import Profile
from campaigns.segments import evaluate, rules


class Command(BaseCommand):
    help = "Print the median time of evaluating (counting and streaming) each category."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--chunk", type=int, default=evaluate.CHUNK, help="ids per fetch")

    def handle(self, repeat, chunk, **options):
        if repeat < 1 or chunk < 1:
            raise CommandError("--repeat and --chunk must be >= 1.")
        if not Profile.objects.exists():
            raise CommandError("No profiles: run `manage.py seed_audience` first.")
        now = timezone.now()
        baseline = _peak_rss_mb()
        medians = []
        for category, data in RULES.items():
            rule = rules.parse(data)
            timings, previews = [], []
            for _ in range(repeat):
                # The evaluation: the members computed once, counted and all streamed.
                started = time.perf_counter()
                with evaluate.snapshot(rule, now) as snapshot:
                    members = snapshot.count
                    streamed = sum(len(ids) for ids in snapshot.chunks(chunk))
                timings.append(time.perf_counter() - started)
                if streamed != members:
                    raise CommandError(f"{category}: counted {members}, streamed {streamed}")
                # What the builder's preview runs: a count and a sample.
                started = time.perf_counter()
                counted = evaluate.count(rule, now)
                evaluate.sample(rule, 10, now)
                previews.append(time.perf_counter() - started)
                if counted != members:
                    raise CommandError(f"{category}: previewed {counted}, evaluated {members}")
            tracemalloc.start()
            _stream(rule, now, chunk)
            traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            median = statistics.median(timings)
            medians.append(median)
            self.stdout.write(
                f"{category}: seconds={median:.3f} members={members} "
                f"preview_seconds={statistics.median(previews):.3f} "
                f"rss_growth_mb={_peak_rss_mb() - baseline:.1f} "
                f"stream_peak_kb={traced_peak // 1024}"
            )
        self.stdout.write(f"max_seconds={max(medians):.3f}")


def _stream(rule, now, chunk: int) -> int:
    return sum(len(ids) for ids in evaluate.stream_ids(rule, now, chunk=chunk))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
