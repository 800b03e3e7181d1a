from channels_app.adapters.kuaidi100.mapping import Kuaidi100Adapter, kuaidi100_sign

__all__ = ["Kuaidi100Adapter", "kuaidi100_sign"]
