from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from orderhub.models import Customer, Order, OrderLine, Product, Warehouse


class WarehouseFactory(factory.django.DjangoModelFactory[Warehouse]):
    class Meta:
        model = Warehouse
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"WH{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    province = "上海市"
    city = "上海市"


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product
        django_get_or_create = ["sku"]

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"商品 {n}")
    category = "apparel"
    hs_code = "6109100021"
    unit_price = Decimal("99.00")


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    name = "张三"
    phone = "13800138000"


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    class Meta:
        model = Order

    channel = "shopify-main"
    external_id = factory.Sequence(lambda n: f"EXT-{n:06d}")
    buyer_name = "张三"
    receiver_name = "张三"
    receiver_phone = "13800138000"
    phone_tail = "8000"
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文三路 100 号"
    goods_amount = Decimal("198.00")
    total_amount = Decimal("198.00")
    placed_at = factory.LazyFunction(timezone.now)


class OrderLineFactory(factory.django.DjangoModelFactory[OrderLine]):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    line_no = factory.Sequence(lambda n: n + 1)
    sku = "SKU-00001"
    quantity = 2
    unit_price = Decimal("99.00")
    amount = Decimal("198.00")
