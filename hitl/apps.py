from django.apps import AppConfig


class HitlConfig(AppConfig):
    name = "hitl"
    verbose_name = "Agents and actions"

    def ready(self):
        from django.core.checks import Tags, register
        from django.db.models.signals import post_delete, post_save

        from .checks import receipt_keys_check, route_completion_check, trusted_proxies_check
        from .models import ActionType, ExpertiseRoute, PolicyRule, RoutingSettings
        from .policy import policy_invalidate

        # A cache, not a business rule: this process sees its own policy edits at once.
        for model in (ActionType, RoutingSettings, PolicyRule, ExpertiseRoute):
            post_save.connect(policy_invalidate, sender=model, dispatch_uid=f"policy-save-{model.__name__}")
            post_delete.connect(policy_invalidate, sender=model, dispatch_uid=f"policy-delete-{model.__name__}")
        register(route_completion_check)  # every route can be completed: enough reviewers for its approvals
        register(receipt_keys_check)
        register(trusted_proxies_check, Tags.security, deploy=True)
