from django.apps import AppConfig


class DemoConfig(AppConfig):
    """What `make run` shows: demo data, an agent that keeps submitting, and the command that
    starts the whole stack. Nothing else depends on it."""

    name = "demo"
    verbose_name = "Demo"
