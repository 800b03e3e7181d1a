"""The merchant's own systems (WMS, ERP, TMS) reporting through the facts API: the kinds
``wms``, ``erp`` and ``tms``, their options and shipped status words (``mapping``)."""

from channels_app.adapters.system_feeds.mapping import ErpAdapter, TmsAdapter, WmsAdapter

__all__ = ["ErpAdapter", "TmsAdapter", "WmsAdapter"]
