"""Tiers and SLAs, the periodic SLA sweep, escalation and notifications (see ARCHITECTURE.md)."""
