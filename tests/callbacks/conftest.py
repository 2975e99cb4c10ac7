from tests.escalation.test_notify import receiver  # noqa: F401 (the notification tests' loopback receiver)
