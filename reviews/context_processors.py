from django.utils.functional import SimpleLazyObject

from .selectors import user_roles


def roles(request) -> dict:
    """`roles` for every page's navigation: reviewer, auditor, admin (read only when a page uses it)."""
    return {"roles": SimpleLazyObject(lambda: user_roles(request.user))}
