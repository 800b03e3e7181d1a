"""Pure normalization of pulled records: Amazon, Pinduoduo, Douyin detail, Kingdee rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from channels_app.adapters.amazon.mapping import AmazonAdapter
from channels_app.adapters.base import AccountConfig, NormalizeError
from channels_app.adapters.common import CHINA_TZ
from channels_app.adapters.douyin.mapping import DouyinAdapter
from channels_app.adapters.kingdee_k3.mapping import KingdeeK3Adapter
from channels_app.adapters.pinduoduo.mapping import PinduoduoAdapter, current_raw_status
from channels_app.http import retry_after_seconds
from orderhub.domain import NormalizedLine, StatusFactIn

AMAZON = AccountConfig(code="amz", kind="amazon")
PDD = AccountConfig(code="pdd", kind="pinduoduo")
DOUYIN = AccountConfig(code="dy", kind="douyin")
ERP = AccountConfig(code="erp", kind="kingdee_k3")


def test_amazon_order_with_items_and_address() -> None:
    payload = {
        "order": {"AmazonOrderId": "902-3159896-1390916", "PurchaseDate": "2026-05-01T08:00:00Z",
                  "LastUpdateDate": "2026-05-01T09:30:00.123Z", "OrderStatus": "Unshipped",
                  "OrderTotal": {"CurrencyCode": "USD", "Amount": "59.90"},
                  "LatestShipDate": "2026-05-03T08:00:00Z"},
        "items": [{"ASIN": "B00000001", "SellerSKU": "MUG-1", "OrderItemId": "1",
                   "QuantityOrdered": 2, "Title": "Mug",
                   "ItemPrice": {"CurrencyCode": "USD", "Amount": "39.90"}}],
        "address": {"AmazonOrderId": "902-3159896-1390916",
                    "ShippingAddress": {"Name": "Liam Smith", "AddressLine1": "1 Market Street",
                                        "City": "San Francisco", "StateOrRegion": "CA",
                                        "PostalCode": "94103", "CountryCode": "US"}},
    }  # fmt: skip
    (order,) = AmazonAdapter().normalize(AMAZON, payload)
    assert (order.external_id, order.total_amount, order.currency) == (
        "902-3159896-1390916", Decimal("59.90"), "USD",
    )  # fmt: skip
    assert (order.country, order.province, order.city, order.address) == (
        "US", "CA", "San Francisco", "1 Market Street",
    )  # fmt: skip
    assert order.lines == (NormalizedLine(1, "MUG-1", 2, Decimal("19.95"), "Mug"),)
    assert order.facts == (
        StatusFactIn("amazon:amz", "Unshipped", None,
                     datetime(2026, 5, 1, 9, 30, 0, 123000, tzinfo=UTC)),
    )  # fmt: skip
    assert AmazonAdapter.default_status_map["Canceled"] == "cancelled"


def test_amazon_record_without_order_id_is_refused() -> None:
    with pytest.raises(NormalizeError, match="AmazonOrderId"):
        AmazonAdapter().normalize(AMAZON, {"order": {"OrderStatus": "Pending"}})


def test_pinduoduo_shipped_order_has_paid_and_shipped_facts() -> None:
    info = {"order_sn": "260501-123", "order_status": 2, "refund_status": 1, "confirm_status": 1,
            "confirm_time": "2026-05-01 10:00:00", "pay_time": "2026-05-01 09:59:00",
            "shipping_time": "2026-05-01 15:00:00", "updated_at": "2026-05-01 15:00:01",
            "created_time": "2026-05-01 09:58:00", "pay_amount": "35.50", "goods_amount": "35.50",
            "province": "浙江省", "city": "杭州市", "town": "西湖区", "tracking_number": "SF1",
            "item_list": [{"outer_id": "MUG-CER-01", "goods_count": 1,
                           "goods_price": Decimal("35.5"),
                           "goods_name": "陶瓷马克杯"}]}  # fmt: skip
    (order,) = PinduoduoAdapter().normalize(PDD, {"order_info": info})
    assert [(f.raw_status, f.occurred_at) for f in order.facts] == [
        ("order_status:1", datetime(2026, 5, 1, 10, 0, tzinfo=CHINA_TZ)),
        ("order_status:2", datetime(2026, 5, 1, 15, 0, tzinfo=CHINA_TZ)),
    ]
    assert (order.total_amount, order.tracking_number, order.province) == (
        Decimal("35.50"), "SF1", "浙江省",
    )  # fmt: skip
    assert order.lines == (NormalizedLine(1, "MUG-CER-01", 1, Decimal("35.50"), "陶瓷马克杯"),)
    assert current_raw_status(info) == "order_status:2"
    assert current_raw_status({**info, "confirm_status": 2}) == "confirm_status:2"


def test_douyin_detail_record_is_accepted_by_the_push_adapter() -> None:
    detail = {"order_id": "6920000000000000001", "order_status": 3, "create_time": 1777600000,
              "pay_time": 1777600060, "ship_time": 1777610000, "update_time": 1777610000,
              "finish_time": 0, "pay_amount": 3550, "post_amount": 0,
              "post_addr": {"province": {"name": "浙江省"}, "city": {"name": "杭州市"},
                            "town": {"name": "西湖区"}, "detail": "文三路1号"},
              "logistics_info": [{"company": "shunfeng", "delivery_id": "SF9"}],
              "sku_order_list": [{"out_sku_id": "MUG-CER-01", "item_num": 1,
                                  "origin_amount": 3550, "product_name": "陶瓷马克杯"}],
              }  # fmt: skip
    (order,) = DouyinAdapter().normalize(DOUYIN, {"shop_order_detail": detail})
    assert [f.raw_status for f in order.facts] == [
        "order_status:1", "order_status:105", "order_status:3",
    ]  # fmt: skip
    assert (order.total_amount, order.carrier, order.tracking_number, order.district) == (
        Decimal("35.50"), "shunfeng", "SF9", "西湖区",
    )  # fmt: skip
    assert DouyinAdapter.default_status_map["order_status:3"] == "handed_over"


def test_kingdee_row_speaks_about_the_channel_order() -> None:
    row = {"fid": 7, "fchannel": "dy", "fbillno": "692", "fstatus": "WAYBILL", "fcarrier": "SF",
           "flogisticsno": "SF77", "fmodifytime": "2026-05-01T10:00:00+08:00",
           "frowversion": 9}  # fmt: skip
    (order,) = KingdeeK3Adapter().normalize(ERP, {"row": row})
    assert (order.channel, order.external_id, order.tracking_number) == ("dy", "692", "SF77")
    assert order.facts == (
        StatusFactIn("kingdee_k3:erp", "WAYBILL", None,
                     datetime(2026, 5, 1, 10, 0, tzinfo=CHINA_TZ)),
    )  # fmt: skip


def test_retry_after_comes_from_the_header_or_the_announced_rate() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"x-amzn-RateLimit-Limit": "0.5"}) == 2.0
    assert retry_after_seconds({"x-amzn-RateLimit-Limit": "0"}) is None
    assert retry_after_seconds({}) is None
