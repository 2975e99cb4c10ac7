from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviewers and decisions"

    def ready(self):
        from hitl.policy import policy_source

        from .selectors import routing_groups

        policy_source(routing_groups)  # routing sends no action to a group that cannot complete it
