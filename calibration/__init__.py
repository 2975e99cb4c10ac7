"""Feedback events, calibration metrics and threshold recalibration (see ARCHITECTURE.md)."""
