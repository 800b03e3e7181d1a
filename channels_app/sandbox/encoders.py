"""Per-kind encoders: (order, step) → the exact HTTP request the platform sends.

Each kind has a ``payload`` function (what the platform says, before any envelope or
encryption) and ``wrap`` (headers, signature, envelope, encryption) so hostile payloads go
through the same, correct signing as real ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig
from channels_app.adapters.dingtalk import encrypt as dingtalk_encrypt
from channels_app.adapters.dingtalk import signature as dingtalk_signature
from channels_app.adapters.kuaidi100 import kuaidi100_sign
from channels_app.adapters.track17 import track17_sign
from channels_app.adapters.webform import sign as webform_sign
from channels_app.sandbox.generator import (
    CARRIER,
    SYSTEM_CARRIER,
    CourierEvent,
    SandboxOrder,
    SystemFact,
)


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]


@dataclass(frozen=True, slots=True)
class Payload:
    data: bytes
    delivery_id: str
    event_type: str


def event_uuid(order: SandboxOrder, step: int, platform: int) -> str:
    """A delivery id unique per (platform, run, order number, step): runs never collide.

    Bits: platform tag from 64, the run (under 2**28) from 36, the order number times 16
    plus the step below.
    """
    if not 0 <= order.run < 1 << 28 or order.number >= 1 << 31 or step >= 16:
        raise ValueError("run, order number or step out of range for a sandbox delivery id")
    return str(uuid.UUID(int=(platform << 64) + (order.run << 36) + order.number * 16 + step))


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def fen(value: Decimal) -> int:
    return int(value * 100)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def china(moment: datetime) -> str:
    return moment.astimezone(common.CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


# --- payloads ------------------------------------------------------------------------------


def shopify_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    financial = {"placed": "pending", "cancelled": "voided"}.get(name, "paid")
    shipped = name in ("shipped", "delivered")
    fulfillments = []
    if shipped:
        fulfillments.append(
            {
                "id": order.number * 10 + 1,
                "order_id": int(order.external_id),
                "status": "success",
                "created_at": iso(at),
                "updated_at": iso(at),
                "service": "manual",
                "tracking_company": "SF Express",
                "tracking_number": order.tracking_number,
                "tracking_numbers": [order.tracking_number],
                "shipment_status": "delivered" if name == "delivered" else "in_transit",
                "name": f"#{1000 + order.number}.1",
            }
        )
    body = {
        "id": int(order.external_id),
        "admin_graphql_api_id": f"gid://shopify/Order/{order.external_id}",
        "name": f"#{1000 + order.number}",
        "order_number": 1000 + order.number,
        "email": order.email,
        "phone": order.phone,
        "created_at": iso(order.placed_at),
        "updated_at": iso(at),
        "processed_at": iso(order.placed_at),
        "cancelled_at": iso(at) if name == "cancelled" else None,
        "cancel_reason": "customer" if name == "cancelled" else None,
        "currency": order.currency,
        "presentment_currency": order.currency,
        "total_line_items_price": money(order.goods),
        "subtotal_price": money(order.goods - order.discount),
        "total_discounts": money(order.discount),
        "total_tax": "0.00",
        "total_price": money(order.total),
        "total_shipping_price_set": {
            "shop_money": {"amount": money(order.shipping), "currency_code": order.currency},
            "presentment_money": {"amount": money(order.shipping), "currency_code": order.currency},
        },
        "financial_status": financial,
        "fulfillment_status": "fulfilled" if shipped else None,
        "test": False,
        "tags": "",
        "note": None,
        "customer": {
            "id": 7000 + order.number,
            "email": order.email,
            "first_name": order.first_name,
            "last_name": order.last_name,
        },
        "line_items": [
            {
                "id": order.number * 100 + i,
                "variant_id": 4000 + i,
                "product_id": 3000 + i,
                "sku": line.sku,
                "title": line.title,
                "name": line.title,
                "quantity": line.quantity,
                "price": money(line.unit_price),
                "requires_shipping": True,
            }
            for i, line in enumerate(order.lines)
        ],
        "shipping_address": {
            "first_name": order.first_name,
            "last_name": order.last_name,
            "name": order.buyer_name,
            "address1": order.street,
            "address2": None,
            "city": order.city,
            "province": order.province,
            "country_code": order.country,
            "zip": order.postal_code,
            "phone": order.phone,
        },
        "fulfillments": fulfillments,
    }
    topic = {
        "placed": "orders/create",
        "paid": "orders/paid",
        "shipped": "orders/fulfilled",
        "delivered": "orders/updated",
        "cancelled": "orders/cancelled",
    }[name]
    return Payload(dumps(body), event_uuid(order, step, 1), topic)


def woocommerce_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    status = {
        "placed": "pending",
        "paid": "processing",
        "shipped": "completed",
        "cancelled": "cancelled",
    }[name]
    gmt = at.astimezone(UTC).replace(tzinfo=None).isoformat()
    body = {
        "id": int(order.external_id),
        "parent_id": 0,
        "number": order.external_id,
        "order_key": f"wc_order_{order.number:08x}",
        "created_via": "checkout",
        "version": "9.1.0",
        "status": status,
        "currency": order.currency,
        "date_created_gmt": order.placed_at.astimezone(UTC).replace(tzinfo=None).isoformat(),
        "date_modified_gmt": gmt,
        "date_paid_gmt": gmt if name == "paid" else None,
        "discount_total": money(order.discount),
        "shipping_total": money(order.shipping),
        "total": money(order.total),
        "total_tax": "0.00",
        "customer_note": "",
        "billing": {
            "first_name": order.first_name,
            "last_name": order.last_name,
            "email": order.email,
            "phone": order.phone,
            "country": order.country,
        },
        "shipping": {
            "first_name": order.first_name,
            "last_name": order.last_name,
            "address_1": order.street,
            "address_2": "",
            "city": order.city,
            "state": order.province,
            "postcode": order.postal_code,
            "country": order.country,
            "phone": order.phone,
        },
        "line_items": [
            {
                "id": order.number * 100 + i,
                "name": line.title,
                "product_id": 90 + i,
                "variation_id": 0,
                "quantity": line.quantity,
                "subtotal": money(line.amount),
                "total": money(line.amount),
                "sku": line.sku,
                "price": float(line.unit_price),
            }
            for i, line in enumerate(order.lines)
        ],
    }
    delivery = hashlib.sha1(
        f"{order.run:x}:{order.external_id}:{step}".encode(), usedforsecurity=False
    )
    topic = "order.created" if step == 0 else "order.updated"
    return Payload(dumps(body), delivery.hexdigest(), topic)


def douyin_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    tag = {"placed": 100, "paid": 101, "shipped": 102, "delivered": 103, "cancelled": 106}[name]
    status = {100: 1, 101: 105, 102: 3, 103: 5, 106: 4}[tag]
    data: dict[str, Any] = {
        "p_id": int(order.external_id),
        "s_ids": [int(order.external_id) + 1],
        "shop_id": 4463798,
        "biz": 2,
        "order_status": status,
        "order_type": 0,
    }
    if tag == 100:
        data["create_time"] = unix(at)
    elif tag == 101:
        data.update(pay_amount=fen(order.total), pay_time=unix(at), pay_type=1)
    elif tag == 102:
        data.update(
            update_time=unix(at),
            logistics_msg={
                "express_company_id": "shunfeng",
                "logistics_code": order.tracking_number,
            },
            receiver_msg={
                "name": order.buyer_name,
                "tel": order.phone,
                "addr": {
                    "province": {"name": order.province},
                    "city": {"name": order.city},
                    "town": {"name": order.district},
                    "detail": order.street,
                },
            },
        )
    elif tag == 103:
        data["complete_time"] = unix(at)
    else:
        data.update(cancel_reason="买家取消", cancel_time=unix(at))
    # The order id differs per run already (random serial); the run makes it certain.
    msg_id = f"{order.external_id}:{tag}:{unix(at)}:{order.run:x}"
    message = {"tag": str(tag), "msg_id": msg_id, "data": json.dumps(data, ensure_ascii=False)}
    return Payload(dumps([message]), msg_id, f"tag:{tag}")


def youzan_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    status = {
        "placed": "WAIT_BUYER_PAY",
        "paid": "WAIT_SELLER_SEND_GOODS",
        "shipped": "WAIT_BUYER_CONFIRM_GOODS",
        "delivered": "TRADE_SUCCESS",
        "cancelled": "TRADE_CLOSED",
    }[name]
    kind = {
        "placed": "trade_TradeCreate",
        "paid": "trade_TradeBuyerPay",
        "shipped": "trade_TradeSellerShip",
        "delivered": "trade_TradeSuccess",
        "cancelled": "trade_TradeClose",
    }[name]
    if name == "placed":
        msg: dict[str, Any] = {
            "full_order_info": {
                "order_info": {
                    "tid": order.external_id,
                    "status": status,
                    "created": china(at),
                    "update_time": china(at),
                },
                "buyer_info": {"fans_nickname": order.buyer_name, "buyer_phone": order.phone},
                "address_info": {
                    "receiver_name": order.buyer_name,
                    "receiver_tel": order.phone,
                    "delivery_province": order.province,
                    "delivery_city": order.city,
                    "delivery_district": order.district,
                    "delivery_address": order.street,
                    "delivery_postal_code": order.postal_code,
                },
                "pay_info": {
                    "total_fee": money(order.goods),
                    "post_fee": money(order.shipping),
                    "payment": money(order.total),
                },
                "orders": [
                    {
                        "outer_sku_id": line.sku,
                        "sku_id": 36000 + i,
                        "num": line.quantity,
                        "price": money(line.unit_price),
                        "title": line.title,
                    }
                    for i, line in enumerate(order.lines)
                ],
            }
        }
    else:
        msg = {"tid": order.external_id, "status": status, "update_time": china(at)}
    return youzan_push(order, event_uuid(order, step, 2), kind, status, at, msg)


def youzan_push(
    order: SandboxOrder, msg_id: str, kind: str, status: str, at: datetime, msg: dict[str, Any]
) -> Payload:
    """Youzan's push envelope around ``msg`` (URL-encoded JSON, as the platform sends it)."""
    body = {
        "client_id": "",
        "id": order.external_id,
        "kdt_id": 40000001,
        "kdt_name": "沙盒小店",
        "mode": 1,
        "msg_id": msg_id,
        "sendCount": 0,
        "sign": "",
        "status": status,
        "test": False,
        "type": kind,
        "version": unix(at),
        "msg": quote(json.dumps(msg, ensure_ascii=False, separators=(",", ":"))),
    }
    return Payload(dumps(body), msg_id, kind)


def wechat_pay_payload(order: SandboxOrder, step: int) -> Payload:
    at = order.step_times[step]
    resource = {
        "mchid": "1900000109",
        "appid": "wxsandbox00000001",
        "out_trade_no": order.external_id,
        "transaction_id": f"42000{order.number:023d}",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "CMB_DEBIT",
        "attach": "",
        "success_time": iso(at),
        "payer": {"openid": f"oSandbox{order.number:020d}"},
        "amount": {
            "total": fen(order.total),
            "payer_total": fen(order.total),
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    notice_id = event_uuid(order, step, 3)
    return Payload(dumps(resource), notice_id, "TRANSACTION.SUCCESS")


def dingtalk_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    event: dict[str, Any] = {
        "EventType": "bpms_instance_change",
        "processInstanceId": order.external_id,
        "corpId": "",
        "createTime": int(order.placed_at.timestamp() * 1000),
        "title": f"{order.buyer_name}提交的销售订单审批",
        "staffId": f"staff{order.number}",
        "processCode": "PROC-SANDBOX-ORDER",
        "url": "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm",
    }
    if name == "placed":
        event["type"] = "start"
    elif name == "approved":
        event.update(type="finish", result="agree", finishTime=int(at.timestamp() * 1000))
    else:
        event.update(type="terminate", finishTime=int(at.timestamp() * 1000))
    return Payload(dumps(event), "", "bpms_instance_change")


def webform_payload(order: SandboxOrder, step: int) -> Payload:
    name, at = order.steps[step], order.step_times[step]
    status = {
        "placed": "placed",
        "paid": "paid",
        "shipped": "handed_over",
        "delivered": "delivered",
        "cancelled": "cancelled",
    }[name]
    body: dict[str, Any] = {
        "external_id": order.external_id,
        "status": status,
        "status_time": iso(at),
        "placed_at": iso(order.placed_at),
        "test": False,
        "order_type": order.order_type,
        "buyer": {"name": order.buyer_name, "phone": order.phone, "email": order.email},
        "receiver": {"name": order.buyer_name, "phone": order.phone},
        "address": {
            "country": order.country,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "detail": order.street,
            "postal_code": order.postal_code,
        },
        "currency": order.currency,
        "amounts": {
            "goods": money(order.goods),
            "shipping": money(order.shipping),
            "discount": money(order.discount),
            "tax": "0.00",
            "total": money(order.total),
        },
        "lines": [
            {
                "sku": line.sku,
                "title": line.title,
                "qty": line.quantity,
                "unit_price": money(line.unit_price),
            }
            for line in order.lines
        ],
    }
    if name in ("shipped", "delivered"):
        body.update(carrier="SF", tracking_number=order.tracking_number)
    delivery = event_uuid(order, step, 4)
    return Payload(dumps(body), delivery, "order")


# --- courier pushes (each carries the waybill's whole trace so far) ------------------------

KUAIDI100_CODES = {
    "info_received": ("101", "已下单", "顺丰速运 已收到寄件信息"),
    "collected": ("103", "揽收", "顺丰速运 已收取快件"),
    "in_transit": ("1002", "干线", "快件到达【{place}转运中心】"),
    "out_for_delivery": ("5", "派件", "快件正在派送中，请您准备签收"),  # noqa: RUF001
    "delivered": ("301", "签收", "您的快件已签收，感谢使用顺丰"),  # noqa: RUF001
}
TRACK17_STATES = {
    "info_received": ("InfoReceived", "InfoReceived", "已下单"),
    "collected": ("PickedUp", "InTransit_PickedUp", "顺丰速运 已收取快件"),
    "in_transit": ("Arrival", "InTransit_Other", "快件到达转运中心"),
    "out_for_delivery": ("OutForDelivery", "OutForDelivery_Other", "快件正在派送中"),
    "delivered": ("Delivered", "Delivered_Other", "已签收"),
}
AFTERSHIP_TAGS = {
    "info_received": ("InfoReceived", "InfoReceived_001", "Shipment information received"),
    "collected": ("InTransit", "InTransit_002", "Picked up by the courier"),
    "in_transit": ("InTransit", "InTransit_001", "Arrived at the sorting center"),
    "out_for_delivery": ("OutForDelivery", "OutForDelivery_001", "Out for delivery"),
    "delivered": ("Delivered", "Delivered_001", "Delivered"),
}


def kuaidi100_payload(order: SandboxOrder, events: tuple[CourierEvent, ...]) -> Payload:
    """The subscription push: form ``param`` (the trace, newest first, China times)."""
    done = events[-1].stage == "delivered"
    data = []
    for event in reversed(events):
        code, word, context = KUAIDI100_CODES[event.stage]
        data.append(
            {
                "time": china(event.at),
                "context": context.format(place=event.place),
                "ftime": china(event.at),
                "areaCode": None,
                "areaName": event.place,
                "status": word,
                "location": "",
                "statusCode": code,
            }
        )
    param = {
        "status": "shutdown" if done else "polling",
        "billstatus": "check" if done else "got",
        "message": "",
        "lastResult": {
            "message": "ok",
            "nu": order.tracking_number,
            "ischeck": "1" if done else "0",
            "com": CARRIER["kuaidi100"],
            "status": "200",
            "data": data,
            "state": KUAIDI100_CODES[events[-1].stage][0],
            "condition": "F00",
            "isLoop": False,
        },
    }
    return Payload(dumps(param), "", "tracking")


def track17_payload(order: SandboxOrder, events: tuple[CourierEvent, ...]) -> Payload:
    rows = []
    for event in reversed(events):
        stage, sub, description = TRACK17_STATES[event.stage]
        rows.append(
            {
                "time_iso": event.at.isoformat(),
                "time_utc": event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "description": description,
                "location": event.place,
                "stage": stage,
                "sub_status": sub,
            }
        )
    latest = rows[0]
    body = {
        "event": "TRACKING_UPDATED",
        "data": {
            "number": order.tracking_number,
            "carrier": CARRIER["track17"],
            "param": None,
            "tag": "",
            "track_info": {
                "latest_status": {
                    "status": latest["sub_status"].split("_")[0],
                    "sub_status": latest["sub_status"],
                    "sub_status_descr": None,
                },
                "latest_event": {k: v for k, v in latest.items() if k != "sub_status"},
                "tracking": {
                    "providers": [
                        {"provider": {"key": CARRIER["track17"], "name": "SF Express"},
                         "events": rows}
                    ]
                },
            },
        },
    }  # fmt: skip
    return Payload(dumps(body), "", "TRACKING_UPDATED")


def aftership_payload(order: SandboxOrder, events: tuple[CourierEvent, ...]) -> Payload:
    checkpoints = []
    for event in events:
        tag, subtag, message = AFTERSHIP_TAGS[event.stage]
        checkpoints.append(
            {
                "checkpoint_time": event.at.isoformat(),
                "tag": tag,
                "subtag": subtag,
                "subtag_message": message,
                "message": message,
                "location": event.place,
                "city": event.place,
                "country_name": "China",
                "slug": CARRIER["aftership"],
            }
        )
    last_tag, last_subtag, last_message = AFTERSHIP_TAGS[events[-1].stage]
    # One event id per (run, order, push): a redelivery repeats it, another run never does.
    event_id = event_uuid(order, len(events), 5)
    body = {
        "event": "tracking_update",
        "event_id": event_id,
        "is_tracking_first_tag": len(events) == 1,
        "ts": unix(events[-1].at),
        "msg": {
            "id": f"sbx{order.run:07x}{order.number:08x}",
            "tracking_number": order.tracking_number,
            "slug": CARRIER["aftership"],
            "tag": last_tag,
            "subtag": last_subtag,
            "subtag_message": last_message,
            "checkpoints": checkpoints,
        },
    }
    return Payload(dumps(body), event_id, "tracking_update")


COURIER_PAYLOADS: dict[str, Callable[[SandboxOrder, tuple[CourierEvent, ...]], Payload]] = {
    "kuaidi100": kuaidi100_payload,
    "track17": track17_payload,
    "aftership": aftership_payload,
}


# --- the facts API (the merchant's WMS and ERP) -------------------------------------------------


def system_fact_body(
    code: str, channel: str, order: SandboxOrder, fact: SystemFact
) -> dict[str, Any]:
    """One fact of ``POST /api/v1/facts/`` from system ``code`` about ``order`` of the channel
    account ``channel``; its key is unique per (system, run, order, word)."""
    body: dict[str, Any] = {
        "key": f"{code}-{order.run:x}-{order.number}-{fact.system}-{fact.raw_status}".lower(),
        "system": code,
        "order": {"channel": channel, "external_id": order.external_id},
        "raw_status": fact.raw_status,
        "occurred_at": fact.at.isoformat(),
    }
    if fact.with_tracking:
        number = fact.tracking_number or order.tracking_number
        body.update(carrier=SYSTEM_CARRIER, tracking_number=number)
        if fact.tracking_number:
            body["key"] += f"-{number.lower()}"
    return body


def api_request(path: str, token: str, value: Any) -> Request:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    return Request(path, headers, dumps(value), {})


PAYLOADS: dict[str, Callable[[SandboxOrder, int], Payload]] = {
    "shopify": shopify_payload,
    "woocommerce": woocommerce_payload,
    "douyin": douyin_payload,
    "youzan": youzan_payload,
    "wechat_pay": wechat_pay_payload,
    "dingtalk": dingtalk_payload,
    "webform": webform_payload,
}


# --- envelopes and signatures ----------------------------------------------------------------


def wrap(
    account: AccountConfig,
    payload: Payload,
    *,
    sent_at: datetime,
    private_key: rsa.RSAPrivateKey | None = None,
) -> Request:
    """Sign (and where the platform does, encrypt and envelope) a payload for ``account``."""
    path = f"/hooks/{account.code}/"
    data, kind = payload.data, account.kind
    if kind == "shopify":
        signature = common.hmac_sha256_b64(account.secrets["webhook_secret"], data)
        headers = {
            "X-Shopify-Topic": payload.event_type,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": "sandbox.myshopify.com",
            "X-Shopify-API-Version": "2024-04",
            "X-Shopify-Webhook-Id": payload.delivery_id,
            "X-Shopify-Triggered-At": sent_at.isoformat(),
        }
        return Request(path, headers, data, {})
    if kind == "woocommerce":
        signature = common.hmac_sha256_b64(account.secrets["webhook_secret"], data)
        resource, _dot, event = payload.event_type.partition(".")
        headers = {
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": payload.event_type,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": payload.delivery_id,
            "User-Agent": "WooCommerce/9.1.0 Hookshot (WordPress/6.6.1)",
        }
        return Request(path, headers, data, {})
    if kind == "douyin":
        key = account.options["app_key"]
        sign = common.md5_hex(key.encode() + data + account.secrets["app_secret"].encode())
        return Request(path, {"app-id": key, "event-sign": sign}, data, {})
    if kind == "youzan":
        client_id = account.options["client_id"]
        sign = common.md5_hex(client_id.encode() + data + account.secrets["client_secret"].encode())
        headers = {"Event-Sign": sign, "Event-Type": payload.event_type, "Client-Id": client_id}
        return Request(path, headers, data, {})
    if kind == "wechat_pay":
        if private_key is None:
            raise ValueError("the sandbox has no platform private key for this account")
        nonce = secrets.token_hex(6)
        cipher = AESGCM(account.secrets["apiv3_key"].encode()).encrypt(
            nonce.encode(), data, b"transaction"
        )
        envelope = dumps(
            {
                "id": payload.delivery_id,
                "create_time": sent_at.astimezone(common.CHINA_TZ).isoformat(),
                "resource_type": "encrypt-resource",
                "event_type": payload.event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(cipher).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            }
        )
        stamp, sign_nonce = str(int(sent_at.timestamp())), secrets.token_hex(16).upper()
        message = stamp.encode() + b"\n" + sign_nonce.encode() + b"\n" + envelope + b"\n"
        rsa_signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        headers = {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": sign_nonce,
            "Wechatpay-Signature": base64.b64encode(rsa_signature).decode(),
            "Wechatpay-Serial": account.options["platform_serial"],
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": secrets.token_hex(16),
        }
        return Request(path, headers, envelope, {})
    if kind == "dingtalk":
        aes_key = base64.b64decode(account.secrets["aes_key"] + "=")
        encrypted = dingtalk_encrypt(aes_key, data, account.secrets["owner_key"])
        stamp, nonce = str(int(sent_at.timestamp() * 1000)), secrets.token_hex(4)
        query = {
            "msg_signature": dingtalk_signature(account.secrets["token"], stamp, nonce, encrypted),
            "timeStamp": stamp,
            "nonce": nonce,
        }
        return Request(path, {}, dumps({"encrypt": encrypted}), query)
    if kind == "webform":
        stamp = str(int(sent_at.timestamp()))
        headers = {
            "X-OrderHub-Timestamp": stamp,
            "X-OrderHub-Signature": webform_sign(account.secrets["hmac_secret"], stamp, data),
            "X-OrderHub-Delivery": payload.delivery_id,
        }
        return Request(path, headers, data, {})
    if kind == "kuaidi100":
        param = data.decode()
        body = urlencode({"param": param, "sign": kuaidi100_sign(param, account.secrets["salt"])})
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
        return Request(path, headers, body.encode(), {})
    if kind == "track17":
        headers = {"Content-Type": "application/json", "sign": track17_sign(
            data, account.secrets["security_key"])}  # fmt: skip
        return Request(path, headers, data, {})
    if kind == "aftership":
        signature = common.hmac_sha256_b64(account.secrets["webhook_secret"], data)
        headers = {"Content-Type": "application/json", "aftership-hmac-sha256": signature}
        return Request(path, headers, data, {})
    raise ValueError(f"the sandbox does not play {kind!r}")


SIGNATURE_HEADERS = {
    "shopify": "X-Shopify-Hmac-Sha256",
    "woocommerce": "X-WC-Webhook-Signature",
    "douyin": "event-sign",
    "youzan": "Event-Sign",
    "wechat_pay": "Wechatpay-Signature",
    "webform": "X-OrderHub-Signature",
    "track17": "sign",
    "aftership": "aftership-hmac-sha256",
}


def _flip(value: str) -> str:
    """Change one character near the middle. A digit, so that it stays in the alphabet and a
    case-insensitive compare (hex signatures) still sees the change."""
    i = len(value) // 2
    return value[:i] + ("0" if value[i] != "0" else "1") + value[i + 1 :]


def bad_signature(kind: str, request: Request, variant: int) -> Request:
    """The same request with one byte of the body or of the signature changed."""
    if variant % 2 == 0 and request.body:
        i = len(request.body) // 2
        body = request.body[:i] + bytes([request.body[i] ^ 0x01]) + request.body[i + 1 :]
        return replace(request, body=body)
    if kind == "dingtalk":
        return replace(
            request, query={**request.query, "msg_signature": _flip(request.query["msg_signature"])}
        )
    if kind == "kuaidi100":  # the sign is a form field of the body
        form = parse_qs(request.body.decode(), keep_blank_values=True)
        fields = {"param": form["param"][0], "sign": _flip(form["sign"][0])}
        return replace(request, body=urlencode(fields).encode())
    name = SIGNATURE_HEADERS[kind]
    return replace(request, headers={**request.headers, name: _flip(request.headers[name])})


HOSTILE_KINDS = ("deep", "nan", "nul", "surrogate", "huge", "truncated", "wrong_type")


def hostile_payload(kind: str, variant: str, marker: str, sample: bytes) -> bytes:
    """A body that must be refused by processing, with a unique ``marker`` so it is not deduped."""
    head = '{"m":"' + marker + '"'
    if variant == "deep":
        return (head + ',"x":' + "[" * 5000 + "]" * 5000 + "}").encode()
    if variant == "nan":
        return (head + ',"total_price":NaN,"id":Infinity}').encode()
    if variant == "nul":
        return (head + ',"id":"a\\u0000b"}').encode()
    if variant == "surrogate":
        return (head + ',"id":"\\ud800x"}').encode()
    if variant == "huge":
        return (head + ',"id":1' + "0" * 5000 + "}").encode()
    if variant == "truncated":
        return sample[: max(1, len(sample) // 2)] + marker.encode()
    # wrong_type: the right container replaced by the wrong one.
    if kind == "douyin":
        return dumps({"tag": "101", "msg_id": marker, "data": ["not", "an", "object"]})
    return dumps([{"m": marker, "id": {"nested": True}, "status": 7}])
