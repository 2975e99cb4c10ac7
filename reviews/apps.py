from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviewers and decisions"

    def ready(self):
        from hitl import events
        from hitl.policy import policy_source

        from . import realtime, revocation
        from .selectors import routing_groups

        policy_source(routing_groups)  # routing sends no action to a group that cannot complete it
        # Every change of an action shows on the pages that show it: a queue row, an activity line.
        # A new action no group reviews (it ran on its own) is in no reviewer's scope: nothing to push.
        events.action_submitted.connect(realtime.broadcast_routed, dispatch_uid="reviews-push-submitted")
        events.actions_changed.connect(realtime.broadcast, dispatch_uid="reviews-push-changed")
        revocation.connect()  # open sockets follow access
