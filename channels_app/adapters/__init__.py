"""Channel adapters, one package per kind, registered in ``channels_app.adapters.base``.

Layout (the same for every kind)::

    adapters/base.py             the contract: AccountConfig, Verified, ChannelAdapter, registry
    adapters/common.py           pure helpers shared by the kinds (signatures, times, money)
    adapters/<kind>/__init__.py  re-exports the public names of ``mapping`` (never ``client``)
    adapters/<kind>/mapping.py   pure: verify a delivery, payload -> frozen dataclasses; registers
                                 the kind's ``ChannelAdapter`` in ``adapters``
    adapters/<kind>/client.py    only for kinds OrderHub calls: the platform API over the one
                                 shared HTTP client (``channels_app.http``), the ``Puller``
                                 (``pullers``) and the write-back writer (``writers``)

The write-back of Shopify, Youzan and WooCommerce (their only HTTP) is still in
``channels_app/outbound/shop_writers.py``; it belongs in their ``client.py``.

Besides ``mapping.py`` a kind may hold more pure modules (``douyin/detail.py``: the order
detail record). No module here queries the database: a puller gets what it needs from the
poll service as plain values (``PullContext``, ``StoredPush``). Pure modules import neither
the ORM nor the network (``channels_app/tests/test_adapter_layout.py`` checks both).

``ChannelsConfig.ready()`` imports every module listed in ``ADAPTER_MODULES`` so that the
registries are complete before the first request.
"""

ADAPTER_MODULES: tuple[str, ...] = (
    "channels_app.adapters.shopify.mapping",
    "channels_app.adapters.woocommerce.mapping",
    "channels_app.adapters.douyin.mapping",
    "channels_app.adapters.douyin.client",
    "channels_app.adapters.youzan.mapping",
    "channels_app.adapters.wechat_pay.mapping",
    "channels_app.adapters.dingtalk.mapping",
    "channels_app.adapters.webform.mapping",
    "channels_app.adapters.amazon.mapping",
    "channels_app.adapters.amazon.client",
    "channels_app.adapters.pinduoduo.mapping",
    "channels_app.adapters.pinduoduo.client",
    "channels_app.adapters.kingdee_k3.mapping",
    "channels_app.adapters.kingdee_k3.client",
    "channels_app.adapters.kuaidi100.mapping",
    "channels_app.adapters.kuaidi100.client",
    "channels_app.adapters.track17.mapping",
    "channels_app.adapters.aftership.mapping",
    "channels_app.adapters.wms.mapping",
    "channels_app.adapters.erp.mapping",
    "channels_app.adapters.tms.mapping",
)
