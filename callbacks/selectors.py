from .models import WebhookDelivery


def webhook_deliveries(action) -> list[WebhookDelivery]:
    """The webhooks sent (or being sent) about the action, oldest first; no query when it has no callback_url."""
    if not action.callback_url:
        return []
    return list(WebhookDelivery.objects.filter(action_id=action.pk).order_by("created_at", "event").defer("body"))
