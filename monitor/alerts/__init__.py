"""Alerts: rules → lifecycle state → outbox → channels."""
