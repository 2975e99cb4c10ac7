from django.core.management.base import BaseCommand

from hitl.receipts import key_generate


class Command(BaseCommand):
    help = (
        "Print a new approval-receipt signing key, 'kid:seed', alone on the last line. Put it first in "
        "HITL_RECEIPT_KEYS (comma-separated) to sign with it; keep the older keys after it for as long as their "
        "receipts must verify."
    )

    def handle(self, *args, **options):
        self.stderr.write("A new receipt key follows: add it at the front of HITL_RECEIPT_KEYS. Keep it secret.")
        self.stdout.write(key_generate())
