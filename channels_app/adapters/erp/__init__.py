from channels_app.adapters.erp.mapping import ErpAdapter

__all__ = ["ErpAdapter"]
