"""Fault drills: a bounded fault against the embedded stack while signed deliveries arrive."""
