"""Scheduled pull channels: lease, cursor, poll runs, reconciliation."""
