"""The consistency rules: pure functions over one order's view (see ``health.rules.base``).

Each module registers its rules when imported; ``HealthConfig.ready()`` imports them all.
"""
