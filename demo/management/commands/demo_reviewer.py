import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from demo.reviewer import DemoReviewer, reviewers_ensure


class Command(BaseCommand):
    help = (
        "Act as reviewers: every few seconds decide part of the demo agent's queue as the demo's truths say "
        "(demo/data.py), leaving the rest to people. SIGTERM (how run_stack stops it) ends it at once: a decision "
        "in flight rolls back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between rounds.")
        parser.add_argument(
            "--min-age", type=float, default=20.0, help="Seconds an action is left to people before it may decide it."
        )
        parser.add_argument(
            "--share", type=float, default=0.6, help="The share of the actions waiting for approval it decides."
        )
        parser.add_argument("--rounds", type=int, default=0, help="Stop after this many rounds (0: never).")

    def handle(self, *args, interval, min_age, share, rounds, **options):
        reviewer = DemoReviewer(reviewers_ensure(), share=share, min_age=timedelta(seconds=min_age))
        names = ", ".join(sorted({p.get_username() for people in reviewer.people.values() for p in people}))
        self.stdout.write(
            f"Reviewing as {names}, once an action is {min_age:g} s old: every review after it ran, and "
            f"{share:.0%} of those waiting for approval (the rest are left to people)."
        )
        done = 0
        while not rounds or done < rounds:
            done += 1
            self._round(reviewer)
            if not rounds or done < rounds:
                time.sleep(interval)

    def _round(self, reviewer: DemoReviewer) -> None:
        try:
            tally = reviewer.round(timezone.now())
        except Exception as exc:  # run_stack stops everything when a child exits: this one never does
            self.stderr.write(f"review round failed, trying again next round: {exc!r}")
            close_old_connections()  # a connection that broke is replaced
            return
        if tally:
            self.stdout.write("reviewed: " + ", ".join(f"{outcome} {n}" for outcome, n in sorted(tally.items())))
