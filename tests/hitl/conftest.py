"""The `scene` fixture of the audit coverage tests (tests/hitl/audit_flows.py)."""

from tests.hitl.audit_flows import scene  # noqa: F401
