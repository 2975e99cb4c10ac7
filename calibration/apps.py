from django.apps import AppConfig


class CalibrationConfig(AppConfig):
    name = "calibration"
    verbose_name = "Calibration and feedback"

    def ready(self):
        from hitl.policy import policy_source

        from .proposals import shadow_thresholds

        policy_source(shadow_thresholds)  # intake records a shadowed proposal's route beside the policy's
