from django.apps import AppConfig


class HitlConfig(AppConfig):
    name = "hitl"
    verbose_name = "Agents and actions"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .models import ActionType
        from .policy import policy_invalidate

        # A cache, not a business rule: this process sees its own edits at once.
        post_save.connect(policy_invalidate, sender=ActionType, dispatch_uid="policy-invalidate-save")
        post_delete.connect(policy_invalidate, sender=ActionType, dispatch_uid="policy-invalidate-delete")
