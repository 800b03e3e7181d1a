"""The platform APIs OrderHub pulls from and writes back to, served on 127.0.0.1.

Real paths, auth, paging, rate-limit headers and error bodies of Amazon SP-API (+ LWA),
the Pinduoduo router and the Douyin shop gateway, with faults on demand (slow answers, 429
bursts, 5xx, expired tokens, revoked grants, answers held after the effect, dropped pushes)
and a count of effective write-back calls per order. For tests, demos and benchmarks only.
"""

from channels_app.sandbox_api.server import SandboxAPI

__all__ = ["SandboxAPI"]
