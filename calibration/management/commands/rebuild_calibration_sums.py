from django.core.management.base import BaseCommand

from calibration.services import bin_days_rebuild


class Command(BaseCommand):
    help = "Sum every label into the per-day calibration sums afresh (a repair; safe to run again)."

    def handle(self, *args, **options):
        rows = bin_days_rebuild()
        self.stdout.write(f"{rows} per-day sum{'s' if rows != 1 else ''} written.")
