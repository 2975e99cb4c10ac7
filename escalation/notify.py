"""Notifications of SLA events (new item, warning, escalation, breach). See notify_models."""


def notifications_create(*, items: list) -> None:
    """Record the notifications `items` ((action, event) pairs) call for; deliver after commit."""
