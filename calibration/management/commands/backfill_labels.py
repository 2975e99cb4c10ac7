from django.core.management.base import BaseCommand

from calibration.services import labels_backfill


class Command(BaseCommand):
    help = "Label the human verdicts made before labels existed, from the stored actions (safe to run again)."

    def handle(self, *args, **options):
        written = labels_backfill()
        self.stdout.write(f"{written} label{'s' if written != 1 else ''} written.")
