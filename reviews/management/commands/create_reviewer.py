from django.core.management.base import BaseCommand, CommandError

from hitl.errors import Invalid
from reviews.services import reviewer_create


class Command(BaseCommand):
    help = "Create a reviewer in the given groups and print an API token (shown once) alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--groups", required=True, help="Comma-separated group keys, e.g. team,lead")

    def handle(self, *args, username, password, groups, **options):
        keys = [key.strip() for key in groups.split(",") if key.strip()]
        try:
            user, raw = reviewer_create(username=username, password=password, group_keys=keys)
        except Invalid as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Reviewer '{user.username}' is in: {', '.join(keys)}. API token follows; it is not shown again."
        )
        self.stdout.write(raw)
