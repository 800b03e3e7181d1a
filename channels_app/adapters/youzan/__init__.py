"""Youzan: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.youzan.mapping import YouzanAdapter

__all__ = ["YouzanAdapter"]
