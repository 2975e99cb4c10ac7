"""The `scene` fixture of the audit coverage tests (tests/audit/audit_flows.py)."""

from tests.audit.audit_flows import scene  # noqa: F401
