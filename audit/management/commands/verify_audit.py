from django.core.management.base import BaseCommand, CommandError

from audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Check every audit chain and anchor. Exits 0 when the log is intact; otherwise 1, naming the "
        "first broken event and what is wrong with it (edited, missing, inserted)."
    )

    def handle(self, *args, **options):
        try:
            report = audit_verify()
        except RuntimeError as error:
            raise CommandError(str(error), returncode=2) from error
        summary = (
            f"{report.events:,} events in {report.chains:,} chains; {report.anchors:,} anchors "
            f"({report.pruned_anchors:,} pruned by retention); {report.unanchored:,} events since the last anchor"
        )
        if report.intact:
            self.stdout.write(f"audit log intact: {summary}")
            return
        self.stderr.write(f"audit log BROKEN: {report.problem_count} problem(s) in {summary}")
        self.stderr.write(f"first broken: {report.first}")
        for problem in sorted(report.problems, key=lambda p: p.event_id)[1:]:
            self.stderr.write(f"  also: {problem}")
        raise CommandError(f"first broken: {report.first}", returncode=1)
