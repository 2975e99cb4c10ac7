"""Open reviewer sockets follow access: whatever may change what a user sees (logging out, their
account deactivated or its password changed, their reviewer groups, a group's rank) tells their
sockets to check again at once (reviews.consumers)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from . import realtime
from .models import ReviewerGroup


def connect() -> None:
    user = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="reviews-sockets-logout")
    post_save.connect(_user_saved, sender=user, dispatch_uid="reviews-sockets-user")
    post_delete.connect(_user_saved, sender=user, dispatch_uid="reviews-sockets-user-gone")
    m2m_changed.connect(_members_changed, sender=ReviewerGroup.members.through, dispatch_uid="reviews-sockets-members")
    post_save.connect(_group_changed, sender=ReviewerGroup, dispatch_uid="reviews-sockets-group")
    pre_delete.connect(_group_changed, sender=ReviewerGroup, dispatch_uid="reviews-sockets-group-gone")


def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        realtime.access_changed_on_commit([user.pk], ended_session=request.session.session_key or "")


def _user_saved(sender, instance, **kwargs) -> None:
    realtime.access_changed_on_commit([instance.pk])


def _members_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action == "pre_clear":  # the members are gone by post_clear
        users = [instance.pk] if reverse else list(instance.members.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        users = [instance.pk] if reverse else list(pk_set)
    else:
        return
    realtime.access_changed_on_commit(users)


def _group_changed(sender, instance, **kwargs) -> None:
    realtime.access_changed_on_commit(instance.members.values_list("pk", flat=True))
