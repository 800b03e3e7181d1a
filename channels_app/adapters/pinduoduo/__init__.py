"""Pinduoduo: ``mapping`` (pure: verify + normalize) and ``client`` (pull and write-back).

Only the pure part is re-exported: importing the package never imports the client.
"""

from channels_app.adapters.pinduoduo.mapping import PinduoduoAdapter, current_raw_status, sign

__all__ = ["PinduoduoAdapter", "current_raw_status", "sign"]
