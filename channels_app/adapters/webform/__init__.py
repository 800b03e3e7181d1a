"""Web form: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.webform.mapping import WebformAdapter, sign

__all__ = ["WebformAdapter", "sign"]
