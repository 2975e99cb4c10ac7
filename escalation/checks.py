"""Startup checks of the escalation settings."""

from django.conf import settings
from django.core.checks import Error, Warning
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from hitl.outbound import check_url


def pager_url_check(app_configs, **kwargs) -> list:
    """HITL_PAGER_URL, when set, must be an https URL (http only with DEBUG on) that the SSRF guard
    lets through, with a routing key."""
    url = settings.HITL_PAGER_URL
    if not url:
        return []
    schemes = ["https", "http"] if settings.DEBUG else ["https"]
    try:
        URLValidator(schemes=schemes)(url)
    except ValidationError:
        return [
            Error(
                "HITL_PAGER_URL must be an https:// URL.",
                hint="The pager endpoint carries incidents; http is allowed only with DEBUG on.",
                id="escalation.E001",
            )
        ]
    problem = check_url(url)  # refused now, not at the first page of an incident (hitl.outbound)
    if problem:
        return [
            Error(
                f"HITL_PAGER_URL cannot be called: {problem}",
                hint="Use the pager's public endpoint, or list its network in HITL_OUTBOUND_ALLOW.",
                id="escalation.E002",
            )
        ]
    if not settings.HITL_PAGER_ROUTING_KEY:
        return [
            Warning(
                "HITL_PAGER_URL is set but HITL_PAGER_ROUTING_KEY is empty.",
                hint="PagerDuty's Events API v2 refuses events without the integration's routing key.",
                id="escalation.W001",
            )
        ]
    return []
