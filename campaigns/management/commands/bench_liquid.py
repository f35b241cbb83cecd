"""Liquid budget benchmark: the worst custom bodies we could write within the form's
limits, each checked and rendered for a full batch in a fresh process
(``campaigns.bench.liquid``). One line per template: its size, the wall time of check
plus render, the growth of peak resident memory, the peak of traced Python allocations,
and whether the budget refused it. The target (issue 22): every one within 2 s and
64 MB. Figures are printed, never asserted.
"""

from django.core.management.base import BaseCommand, CommandError

from campaigns.bench.liquid import CASES, run_case

TARGET_SECONDS = 2.0
TARGET_MB = 64.0


class Command(BaseCommand):
    help = "Time and size the worst Liquid templates the campaign form accepts."

    def add_arguments(self, parser):
        parser.add_argument("cases", nargs="*", help=f"some of: {', '.join(CASES)}")

    def handle(self, cases, **options):
        unknown = sorted(set(cases) - set(CASES))
        if unknown:
            raise CommandError(f"Unknown cases: {', '.join(unknown)}.")
        header = f"{'template':36} {'chars':>7} {'seconds':>8} {'rss MB':>7} {'traced MB':>9}"
        self.stdout.write(f"{header}  outcome")
        worst_seconds = worst_mb = 0.0
        for name in cases or CASES:
            figures = run_case(name)
            worst_seconds = max(worst_seconds, figures.seconds)
            worst_mb = max(worst_mb, figures.rss_mb, figures.traced_mb)
            self.stdout.write(
                f"{figures.name:36} {figures.chars:>7,} {figures.seconds:>8.2f} "
                f"{figures.rss_mb:>7.1f} {figures.traced_mb:>9.1f}  {figures.outcome}"
            )
        within = worst_seconds <= TARGET_SECONDS and worst_mb <= TARGET_MB
        self.stdout.write(
            f"worst_seconds={worst_seconds:.2f} worst_mb={worst_mb:.1f} "
            f"target={TARGET_SECONDS:g}s/{TARGET_MB:g}MB {'met' if within else 'MISSED'}"
        )
