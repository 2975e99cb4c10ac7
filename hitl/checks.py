"""Startup checks (`manage.py check`, and every server start): the routing policy in the
database, and the receipt keys in the settings; with `--deploy`, the proxies trusted."""

from django.conf import settings
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from .policy import incomplete_routes
from .receipts import receipt_keys


def route_completion_check(app_configs, **kwargs) -> list:
    """Warn of tiers whose own reviewer group has fewer active members than the approvals their
    actions need (none, on a fresh install): those actions would wait for nobody. (A short group
    that routing is told to use is passed over at run time; admin says so when it is saved.)"""
    try:
        problems, _ = incomplete_routes()
    except DatabaseError:  # not migrated yet: nothing to check
        return []
    return [
        Warning(problem, hint="Add reviewers to the group (Django admin, Reviewer groups).", id="hitl.W001")
        for problem in problems
    ]


def receipt_keys_check(app_configs, **kwargs) -> list:
    """A malformed HITL_RECEIPT_KEYS stops the server from starting, not each approval later."""
    try:
        receipt_keys()
    except ImproperlyConfigured as problem:
        return [Error(str(problem), id="hitl.E001")]
    return []


def trusted_proxies_check(app_configs, **kwargs) -> list:
    """`check --deploy`: forwarded headers believed from anyone let every client pick its own
    address (and so slip past the per-address limits) and claim HTTPS."""
    if "*" not in settings.HITL_TRUSTED_PROXIES:
        return []
    return [
        Warning(
            "HITL_TRUSTED_PROXIES is '*': X-Forwarded-For and X-Forwarded-Proto are believed from any client.",
            hint="List the addresses (or CIDR networks) of the reverse proxies in front of the web processes, "
            "or leave it empty when clients connect directly.",
            id="hitl.W002",
        )
    ]
