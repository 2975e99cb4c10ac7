from django.core.management.base import BaseCommand, CommandError

from calibration.proposals import proposals_make
from hitl.errors import Invalid
from hitl.models import ActionType


class Command(BaseCommand):
    help = (
        "Propose recalibrated thresholds now (beat does it on the schedule in admin, Recalibration settings): "
        "for every action type with enough human verdicts, or for one. An admin applies them in admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--type", dest="action_type", default="", help="Only this action type (its key).")

    def handle(self, *args, action_type, **options):
        chosen = None
        if action_type:
            chosen = ActionType.objects.filter(key=action_type).first()
            if chosen is None:
                raise CommandError(f"Unknown action type '{action_type}'.")
        try:
            made, short = proposals_make(action_type=chosen)
        except Invalid as problem:
            raise CommandError(str(problem)) from None
        for proposal in made:
            after = proposal.replay["after"]
            self.stdout.write(
                f"{proposal.action_type.key}: {proposal.current_threshold:.2f} -> {proposal.proposed_threshold:.2f} "
                f"(routes {after['routed_per_day']}/day, expected unreviewed errors "
                f"{after['unreviewed_errors_per_day']}/day); proposal {proposal.pk}, apply it in admin"
            )
        for key, why in short.items():
            self.stdout.write(f"{key}: no proposal: {why}")
        if chosen is not None and not made:
            raise CommandError(f"No proposal for {chosen.key}: {short.get(chosen.key, 'no recent actions')}.")
