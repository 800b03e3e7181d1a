"""Channel adapters, one module per kind, registered in ``channels_app.adapters.base.adapters``.

``ChannelsConfig.ready()`` imports every module listed in ``ADAPTER_MODULES`` so that the
registry is complete before the first request.
"""

ADAPTER_MODULES: tuple[str, ...] = ()
