"""Channel adapters, one module per kind, registered in ``channels_app.adapters.base.adapters``.

``ChannelsConfig.ready()`` imports every module listed in ``ADAPTER_MODULES`` so that the
registry is complete before the first request.
"""

ADAPTER_MODULES: tuple[str, ...] = (
    "channels_app.adapters.shopify",
    "channels_app.adapters.woocommerce",
    "channels_app.adapters.douyin",
    "channels_app.adapters.youzan",
    "channels_app.adapters.wechat_pay",
    "channels_app.adapters.dingtalk",
    "channels_app.adapters.webform",
    "channels_app.adapters.amazon",
    "channels_app.adapters.amazon_client",
    "channels_app.adapters.pinduoduo",
    "channels_app.adapters.pinduoduo_client",
    "channels_app.adapters.douyin_client",
    "channels_app.adapters.kingdee_k3",
    "channels_app.adapters.kingdee_k3_client",
    "channels_app.adapters.system_feeds",
)
