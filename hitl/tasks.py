from celery import shared_task

from .idempotency import keys_purge
from .logins import lockouts_purge


@shared_task(acks_late=True)
def purge_idempotency_keys() -> int:
    return keys_purge()


@shared_task(acks_late=True)
def purge_login_lockouts() -> int:
    return lockouts_purge()
