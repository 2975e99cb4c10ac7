from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "callbacks"
    verbose_name = "Webhooks to agents"

    def ready(self):
        from hitl import events

        from . import services

        # What the agent is told of (a decision, an expiry, an escalation, a compensation request)
        # becomes a signed webhook to the action's callback_url.
        events.action_event.connect(services.on_action_event, dispatch_uid="callbacks-action-event")
        events.action_events.connect(services.on_action_events, dispatch_uid="callbacks-action-events")
