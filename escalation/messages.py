"""What a notification says on each channel: pure functions of message_of(notification)."""

from html import escape

from django.conf import settings
from django.urls import reverse

from .notify_models import Event, Notification

HEADLINES = {
    Event.NEW_ITEM: "New item waiting",
    Event.WARNING: "SLA warning",
    Event.ESCALATION: "Escalated",
    Event.BREACH: "SLA breached",
    Event.BACKLOG: "Backlog over its bound",
}


def duration_words(seconds: float) -> str:
    """Seconds in words: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def message_of(notification: Notification) -> dict:
    """The facts every channel shows: the action as the event left it, and links to its review
    (for a backlog alert, which names no action: what passed which bound, and the dashboard)."""
    action = notification.action
    if action is None:
        return _queue_message(notification)
    path = reverse("reviews:detail", args=[action.pk])
    headline = HEADLINES[notification.event]
    if notification.event == Event.ESCALATION:
        headline = f"Escalated to {notification.tier} ({notification.reviewer_group})"
    elif notification.event == Event.BREACH:
        headline = f"SLA breached at {notification.tier}: expired"
    return {
        "event": notification.event,
        "headline": headline,
        "action_id": str(action.pk),
        "summary": action.summary,
        "action_type": action.action_type.key,
        "agent": action.agent.name,
        "tier": notification.tier,
        "group": notification.reviewer_group,
        "due_at": notification.due_at,
        "deadline": f"{notification.due_at:%Y-%m-%d %H:%M} UTC" if notification.due_at else "none",
        "path": path,
        "url": settings.HITL_BASE_URL.rstrip("/") + path,
    }


def _queue_message(notification: Notification) -> dict:
    path = reverse("escalation:dashboard")
    return {
        "event": notification.event,
        "headline": HEADLINES[notification.event],
        "action_id": "",
        "summary": notification.text,
        "action_type": "",
        "agent": "",
        "tier": "queue",
        "group": notification.reviewer_group,
        "due_at": None,
        "deadline": "none",
        "path": path,
        "url": settings.HITL_BASE_URL.rstrip("/") + path,
    }


def toast_text(message: dict) -> str:
    if not message["action_id"]:
        return f"{message['headline']}: {message['summary']}"
    return f"{message['headline']}: {message['summary']} ({message['tier']}, due {message['deadline']})"


def email_subject(message: dict) -> str:
    summary = " ".join(message["summary"].split())  # no line breaks in a header
    return f"[HITL {message['tier']}] {message['headline']}: {summary}"[:200]


def email_body(message: dict) -> str:
    if not message["action_id"]:
        return f"{message['headline']}: {message['summary']}\n\nSee the dashboard: {message['url']}\n"
    return (
        f"{message['headline']}: {message['summary']}\n\n"
        f"Tier: {message['tier']} (group {message['group']})\n"
        f"Deadline: {message['deadline']}\n"
        f"Action type: {message['action_type']}, proposed by {message['agent']}\n\n"
        f"Review it: {message['url']}\n"
    )


def mrkdwn(text: str) -> str:
    """`text` as Slack shows it verbatim in a mrkdwn field (the top-level `text` is one): `&`, `<`
    and `>` escaped, as Slack asks, so that no mention (`<!channel>`) or link (`<url|words>`) in
    what an agent wrote reaches the channel as one."""
    return escape(text, quote=False)


def slack_body(message: dict) -> dict:
    """A Block Kit message; `text` is the fallback for notifications and old clients. Every text
    read as mrkdwn escapes what it quotes; `plain_text` (the header, the button) is shown as is."""
    deadline = mrkdwn(message["deadline"])
    if message["due_at"]:  # shown in each reader's own time zone
        deadline = f"<!date^{int(message['due_at'].timestamp())}^{{date_short_pretty}} {{time}}|{deadline}>"
    return {
        "text": f"{mrkdwn(message['headline'])}: {mrkdwn(message['summary'])} ({mrkdwn(message['tier'])}) "
        f"{mrkdwn(message['url'])}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message["headline"][:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*<{message['url']}|{mrkdwn(message['summary'])}>*"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Tier*\n{mrkdwn(message['tier'])} ({mrkdwn(message['group'])})"},
                    {"type": "mrkdwn", "text": f"*Deadline*\n{deadline}"},
                    {"type": "mrkdwn", "text": f"*Action type*\n{mrkdwn(message['action_type'])}"},
                    {"type": "mrkdwn", "text": f"*Agent*\n{mrkdwn(message['agent'])}"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the review"},
                        "url": message["url"],
                        "style": "primary",
                    }
                ],
            },
        ],
    }


def webhook_body(message: dict) -> dict:
    return {
        "event": message["event"],
        "action_id": message["action_id"],
        "summary": message["summary"],
        "tier": message["tier"],
        "group": message["group"],
        "due_at": message["due_at"].isoformat() if message["due_at"] else None,
        "url": message["url"],
    }


def pager_body(message: dict) -> dict:
    """A PagerDuty Events API v2 trigger; one incident per action and event (dedup_key)."""
    return {
        "routing_key": settings.HITL_PAGER_ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": f"hitl-{message['action_id']}-{message['event']}",
        "payload": {
            "summary": f"{message['headline']}: {message['summary']}"[:1024],
            "source": "hitl",
            "severity": "critical",
            "component": message["action_type"],
            "group": message["group"],
            "custom_details": {**webhook_body(message), "agent": message["agent"], "deadline": message["deadline"]},
        },
        "links": [{"href": message["url"], "text": "Review"}],
    }
