from django.core.management.base import BaseCommand, CommandError

from hitl.models import Agent
from hitl.services import agent_create


class Command(BaseCommand):
    help = (
        "Create an agent; print its webhook secret (a line 'Webhook secret: …', for verifying webhooks) and "
        "its API token (shown once) alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")

    def handle(self, *args, name, description, **options):
        if Agent.objects.filter(name=name).exists():
            raise CommandError(f"An agent named '{name}' already exists.")
        agent, raw = agent_create(name=name, description=description)
        self.stderr.write(
            f"Created agent '{agent.name}'. Its webhook secret and token follow; the token is not shown again."
        )
        self.stdout.write(f"Webhook secret: {agent.webhook_secret}")
        self.stdout.write(raw)
