from channels_app.adapters.wms.mapping import WmsAdapter

__all__ = ["WmsAdapter"]
