"""The consistency rules: pure functions over one order's view (see ``health.rules.base``).

``load()`` imports every rule module so each registers itself; ``HealthConfig.ready()`` calls it.
"""

from __future__ import annotations


def load() -> None:
    from health.rules import customs, facts, shipping, stock  # noqa: F401
