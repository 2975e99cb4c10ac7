"""The labels follow the verdicts of the flows the audit coverage tests drive (tests/audit/audit_flows.py)."""

from tests.audit.audit_flows import scene  # noqa: F401
