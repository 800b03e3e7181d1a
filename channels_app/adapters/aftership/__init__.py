from channels_app.adapters.aftership.mapping import AfterShipAdapter

__all__ = ["AfterShipAdapter"]
