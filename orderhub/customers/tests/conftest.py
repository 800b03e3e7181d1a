from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from channels_app.sandbox_api.server import SandboxAPI
from orderhub.celery import app
from orderhub.models import Order, OrderLine, Warehouse
from orderhub.services.stock import StockLevelIn, stock_levels_report
from tests.factories import CustomerFactory, OrderFactory

ACCESS_TOKEN = "mp-access-token"
OPENID = "oWx-customer-1"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the shared cache: start and end each test clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager() -> Iterator[None]:
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def wechat(settings: Any) -> Iterator[SandboxAPI]:
    api = SandboxAPI().start()
    api.wechat_mp.token_add(ACCESS_TOKEN)
    api.wechat_mp.follower_add(OPENID)
    settings.WECHAT_MP_API_BASE = api.url
    settings.WECHAT_MP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WECHAT_MP_TEMPLATE_ID = "TPL-confirm-1"
    settings.PUBLIC_BASE_URL = "https://track.example.com"
    try:
        yield api
    finally:
        api.stop()


def stocked_order(*, total: str = "100.00", order_type: str = "normal", **fields: Any) -> Order:
    """A placed order of one customer with WeChat, two lines, the stock in WH-A."""
    from orderhub.customers.models import CustomerProfile

    Warehouse.objects.get_or_create(code="WH-A", defaults={"name": "A"})
    stock_levels_report(
        levels=[
            StockLevelIn(warehouse="WH-A", sku="SKU-1", on_hand=10),
            StockLevelIn(warehouse="WH-A", sku="SKU-2", on_hand=10),
        ],
        source="wms:t",
    )
    customer = CustomerFactory.create()
    CustomerProfile.objects.create(customer=customer, wechat_openid=OPENID)
    order = OrderFactory.create(
        customer=customer, total_amount=Decimal(total), order_type=order_type, **fields
    )
    OrderLine.objects.create(order=order, line_no=1, sku="SKU-1", title="定制T恤", quantity=2,
                             unit_price=Decimal("40.00"), amount=Decimal("80.00"))  # fmt: skip
    OrderLine.objects.create(order=order, line_no=2, sku="SKU-2", title="帽子", quantity=1,
                             unit_price=Decimal("20.00"), amount=Decimal("20.00"))  # fmt: skip
    return order
