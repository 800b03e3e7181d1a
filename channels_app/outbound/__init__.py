"""Outbound write-back: outbox rows written with the transition, a relay, the call log."""
