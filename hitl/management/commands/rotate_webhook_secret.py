from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from hitl.models import Agent
from hitl.services import agent_webhook_secret_rotate


class Command(BaseCommand):
    help = (
        "Give an agent a new webhook secret and print it alone on the last line; the previous one keeps "
        "signing webhooks beside it for --grace-hours (default 24) while its receivers switch over."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--grace-hours", type=float, default=24.0)

    def handle(self, *args, name, grace_hours, **options):
        if grace_hours < 0:
            raise CommandError("--grace-hours cannot be negative.")
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise CommandError(f"No agent named '{name}'.")
        secret = agent_webhook_secret_rotate(agent=agent, grace=timedelta(hours=grace_hours))
        self.stderr.write(
            f"Rotated the webhook secret of '{agent.name}'; the previous one signs too for {grace_hours:g} more "
            "hours. The new secret follows."
        )
        self.stdout.write(f"Webhook secret: {secret}")
