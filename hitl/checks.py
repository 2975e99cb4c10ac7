"""Startup checks of the routing policy in the database (`manage.py check`)."""

from django.core.checks import Warning
from django.db import DatabaseError

from .policy import incomplete_routes


def route_completion_check(app_configs, **kwargs) -> list:
    """Warn of routes no group can complete: a tier's group, or a group that routing is told to
    use, with fewer active members than the approvals its actions need."""
    try:
        problems = incomplete_routes()
    except DatabaseError:  # not migrated yet: nothing to check
        return []
    return [
        Warning(problem, hint="Add reviewers to the group (Django admin, Reviewer groups).", id="hitl.W001")
        for problem in problems
    ]
