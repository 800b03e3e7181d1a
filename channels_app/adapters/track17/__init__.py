from channels_app.adapters.track17.mapping import Track17Adapter, track17_sign

__all__ = ["Track17Adapter", "track17_sign"]
