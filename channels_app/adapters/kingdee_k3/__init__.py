"""Kingdee K/3 ERP table: ``mapping`` (pure: normalize rows) and ``client`` (pull, write-back).

Only the pure part is re-exported: importing the package never imports the client.
"""

from channels_app.adapters.kingdee_k3.mapping import KingdeeK3Adapter

__all__ = ["KingdeeK3Adapter"]
