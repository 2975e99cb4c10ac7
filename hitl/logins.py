"""Login throttling: failed logins counted per account and per client address, and the lockouts
they lead to.

Every password check made for a request goes through ThrottledModelBackend, the one
authentication backend: the login page, admin's login page, HTTP Basic on the API. A check for an
account, or from an address, that is locked out fails at once with LoginLocked, whatever the
password: pages answer 429 (hitl.middleware.LoginLockedMiddleware), the API a 429 in its JSON
error shape (hitl.api.errors), both with Retry-After.

A wrong password counts one failure against the account (the username as typed, case-folded,
whether or not such a user exists, so that lockouts tell nothing of which accounts exist) and one
against the address. HITL_LOGIN_FAILURES_PER_ACCOUNT (HITL_LOGIN_FAILURES_PER_ADDRESS) failures
within HITL_LOGIN_FAILURE_WINDOW lock the account (the address) out for HITL_LOGIN_LOCKOUT; the
lockout is audited once (login_locked), however many attempts it then refuses. A right password
clears its account's count, not its address's. An admin lifts a lockout sooner in Django admin
(audited: login_unlocked). Counts are decided by the database: one INSERT … ON CONFLICT DO UPDATE
per key, in one transaction with the lockout and its audit event.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.services import Type, audit_record

from .models import LoginLockout

Scope = LoginLockout.Scope


class LoginLocked(Exception):
    """A login refused, without checking its password, until `until`."""

    def __init__(self, until: datetime):
        super().__init__(
            "Too many failed logins for this account or from this address: logging in is refused until "
            f"{until:%H:%M:%S} UTC ({math.ceil((until - timezone.now()).total_seconds() / 60)} min), "
            "unless an administrator lifts the lockout sooner."
        )
        self.until = until

    @property
    def retry_after(self) -> int:
        """Whole seconds until the lockout ends, at least 1 (the Retry-After header)."""
        return max(1, math.ceil((self.until - timezone.now()).total_seconds()))


@dataclass(frozen=True)
class Attempt:
    username: str  # as typed
    address: str

    def keys(self) -> list[tuple[str, str]]:
        """(scope, key) of the account and the address, in the order their rows are locked."""
        return [(Scope.ACCOUNT, account_key(self.username)), (Scope.ADDRESS, self.address)]


def account_key(username: str) -> str:
    return str(username).strip().casefold()[:150]


def client_address(request) -> str:
    """The connection's address. Behind a trusted proxy the ASGI server has put the client's there
    (HITL_TRUSTED_PROXIES); X-Forwarded-For itself is never read here, so a client cannot choose it."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def login_check(*, attempt: Attempt) -> None:
    """Raise LoginLocked when the attempt's account or address is locked out now."""
    match = Q()
    for scope, key in attempt.keys():
        match |= Q(scope=scope, key=key)
    locked = LoginLockout.objects.filter(match, locked_until__gt=timezone.now())
    until = locked.aggregate(until=Max("locked_until"))["until"]
    if until is not None:
        raise LoginLocked(until)


def login_failure_record(*, attempt: Attempt) -> None:
    """Count a failed login against its account and its address; lock out each that reaches its
    limit, with its audit event, and then raise LoginLocked."""
    now = timezone.now()
    limits = {
        Scope.ACCOUNT: settings.HITL_LOGIN_FAILURES_PER_ACCOUNT,
        Scope.ADDRESS: settings.HITL_LOGIN_FAILURES_PER_ADDRESS,
    }
    locked = []
    with transaction.atomic():
        for scope, key in attempt.keys():
            row_id, failures, locked_until = _count_failure(scope=scope, key=key, now=now)
            if failures < limits[scope] or (locked_until is not None and locked_until > now):
                continue
            until = now + settings.HITL_LOGIN_LOCKOUT
            LoginLockout.objects.filter(pk=row_id).update(locked_until=until)  # the upsert holds its row lock
            audit_record(
                event_type=Type.LOGIN_LOCKED,
                data={
                    "scope": scope,
                    **({"username": _existing_username(key)} if scope == Scope.ACCOUNT else {}),
                    "address": attempt.address,
                    "failures": failures,
                    "until": until.isoformat(),
                },
            )
            locked.append(until)
    if locked:
        raise LoginLocked(max(locked))


def login_success_record(*, attempt: Attempt) -> None:
    """A right password: its account's failures are forgotten (its address's are not, so that
    one account's logins do not reset the count of guesses at others)."""
    LoginLockout.objects.filter(scope=Scope.ACCOUNT, key=account_key(attempt.username)).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lte=timezone.now())
    ).delete()


def lockout_lift(*, lockouts, actor) -> int:
    """Forget the failures counted in `lockouts` (LoginLockout rows), lifting those locked out now,
    each with an audit event by `actor` (an admin). Returns how many were locked out."""
    now = timezone.now()
    lifted = 0
    with transaction.atomic():
        rows = LoginLockout.objects.select_for_update().filter(pk__in=[row.pk for row in lockouts]).order_by("pk")
        for row in rows:
            if row.locked_until is not None and row.locked_until > now:
                lifted += 1
                audit_record(
                    event_type=Type.LOGIN_UNLOCKED,
                    actor=actor,
                    data={
                        "scope": row.scope,
                        **(
                            {"username": _existing_username(row.key)}
                            if row.scope == Scope.ACCOUNT
                            else {"address": row.key}
                        ),
                        "failures": row.failures,
                        "until": row.locked_until.isoformat(),
                    },
                )
            row.delete()
    return lifted


def lockouts_purge() -> int:
    """Delete the counts whose window and lockout have both ended. Returns how many went."""
    now = timezone.now()
    ended = LoginLockout.objects.filter(window_started_at__lt=now - settings.HITL_LOGIN_FAILURE_WINDOW).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )
    deleted, _ = ended.delete()
    return deleted


def _count_failure(*, scope: str, key: str, now: datetime) -> tuple[int, int, datetime | None]:
    """One INSERT … ON CONFLICT DO UPDATE counting a failure in the key's window (a new window
    when the last one has ended); (row id, failures in the window, locked_until). Caller holds the
    transaction: the row stays locked until it ends."""
    table = connection.ops.quote_name(LoginLockout._meta.db_table)
    cutoff = now - settings.HITL_LOGIN_FAILURE_WINDOW
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS t (scope, key, failures, window_started_at, locked_until) "
            "VALUES (%s, %s, 1, %s, NULL) ON CONFLICT (scope, key) DO UPDATE SET "
            "failures = CASE WHEN t.window_started_at > %s THEN t.failures + 1 ELSE 1 END, "
            "window_started_at = CASE WHEN t.window_started_at > %s THEN t.window_started_at "
            "ELSE EXCLUDED.window_started_at END "
            "RETURNING id, failures, locked_until",
            [scope, key, now, cutoff, cutoff],
        )
        return cursor.fetchone()


def _existing_username(key: str) -> str | None:
    """The username of the user the key names, or None: a key naming no one is what someone typed,
    perhaps a password, and stays out of the audit log."""
    User = get_user_model()
    return (
        User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": key})
        .values_list(User.USERNAME_FIELD, flat=True)
        .first()
    )


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend, refusing a login whose account or address is locked out and counting
    the failures of the others. Checks without a request (management commands, a test client's
    login()) have no address and are not counted."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            return super().authenticate(request, username, password, **kwargs)
        attempt = Attempt(username=str(username), address=client_address(request))
        login_check(attempt=attempt)
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            login_failure_record(attempt=attempt)
        else:
            login_success_record(attempt=attempt)
        return user
