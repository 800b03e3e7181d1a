from channels_app.adapters.tms.mapping import TmsAdapter

__all__ = ["TmsAdapter"]
