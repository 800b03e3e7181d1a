"""Allocation: offers to eligible warehouses, first-claim-wins pick locks, signed allocation
certificates, picking waves and lease release. Services in ``services``, reads in
``selectors``, the signing in ``certificates``."""
