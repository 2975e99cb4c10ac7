from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = "Tiers, SLAs and escalation"

    def ready(self):
        from django.core.checks import register
        from django.db.models.signals import post_delete, post_save

        from hitl.policy import policy_invalidate, policy_source

        from .checks import pager_url_check
        from .models import TierPolicy
        from .selectors import routing_tiers

        policy_source(routing_tiers)  # routing copies the tiers' chains onto the actions it routes
        # A cache, not a business rule: this process sees its own tier edits at once.
        post_save.connect(policy_invalidate, sender=TierPolicy, dispatch_uid="policy-save-TierPolicy")
        post_delete.connect(policy_invalidate, sender=TierPolicy, dispatch_uid="policy-delete-TierPolicy")
        register(pager_url_check)  # HITL_PAGER_URL must be https outside DEBUG, and not private
