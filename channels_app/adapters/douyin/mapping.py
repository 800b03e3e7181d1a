"""Douyin shop (抖店) message push: a JSON array of ``{tag, msg_id, data}`` messages.

Signature: header ``event-sign`` = md5_hex(app_key + raw body + app_secret), compared
case-insensitively; ``app-id`` must be the account's app key. Tag ``"0"`` is the platform's
push verification and is answered without processing. Reply ``{"code":0,"msg":"success"}``.
Both published shapes are accepted: ``msg_id`` or ``msgId``, ``tag`` string or integer,
``data`` a JSON string or an object. Money is in fen, times are unix seconds.

One fact per order message: ``tag:<n>`` at the message's own event time. After-sale
messages (tags 200-299, ``douyin.aftersale``) write no fact: they report returns and
complaints (``feedback``), and link the message to its order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    FeedbackReport,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from channels_app.adapters.douyin.aftersale import aftersale_reports, is_aftersale
from channels_app.adapters.douyin.detail import DETAIL_STATUS_MAP, detail_normalize, is_detail
from orderhub.choices import Milestone, OrderType
from orderhub.domain import NormalizedOrder, StatusFactIn

SUCCESS = {"code": 0, "msg": "success"}
# The field that carries each tag's event time.
TIME_FIELDS = (
    "create_time",
    "pay_time",
    "update_time",
    "complete_time",
    "cancel_time",
    "modify_time",
    "apply_time",
    "success_time",
)
ORDER_TYPES = {0: OrderType.NORMAL}


def _tag(message: Mapping[str, Any], path: str) -> str:
    tag = message.get("tag")
    if isinstance(tag, int) and not isinstance(tag, bool):
        return str(tag)
    if isinstance(tag, str) and tag.strip().isdigit():
        return tag.strip()
    raise NormalizeError(f"{path}.tag: expected a numeric tag, got {tag!r}")


@adapters.register("douyin")
class DouyinAdapter(ChannelAdapter):
    kind = "douyin"
    label = str(_("Douyin shop"))
    options = (
        OptionSpec("app_key", "App key (sent as the app-id header)"),
        OptionSpec("app_secret", "App secret", secret=True),
        # Order detail fetch and logistics write-back (channels_app.adapters.douyin.client).
        OptionSpec(
            "access_token",
            "Shop access token (for order detail and write-back)",
            required=False,
            secret=True,
        ),
        OptionSpec(
            "base_url", "API gateway (default https://openapi-fxg.jinritemai.com)", required=False
        ),
    )
    default_status_map = {
        "tag:100": Milestone.PLACED,
        "tag:101": Milestone.PAID,
        "tag:110": Milestone.PAID,
        "tag:102": Milestone.HANDED_OVER,
        "tag:103": Milestone.DELIVERED,
        "tag:106": Milestone.CANCELLED,
        **DETAIL_STATUS_MAP,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        app_key = common.option(account, "app_key")
        signature = common.header(request, "event-sign").lower()
        if not signature:
            raise VerificationError(
                "missing event-sign header",
                response=common.json_response(401, {"code": 401, "msg": "sign"}),
            )
        expected = common.md5_hex(
            app_key.encode() + request.body + common.secret(account, "app_secret").encode()
        )
        if not common.same(expected, signature):
            raise VerificationError(
                "event-sign does not match the body",
                response=common.json_response(401, {"code": 401, "msg": "sign"}),
            )
        sent_app = common.header(request, "app-id")
        if sent_app and sent_app != app_key:
            raise VerificationError("app-id is not this account's app key")
        messages = common.peek_json(request.body)
        delivery_id, tags, handshake = "", "", False
        if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
            ids = [str(m.get("msg_id") or m.get("msgId") or "") for m in messages]
            tag_list = [str(m.get("tag", "")) for m in messages]
            if len(ids) == 1 and len(ids[0]) <= 128:
                delivery_id = ids[0]
            tags = ",".join(tag_list)[:64]
            handshake = all(tag == "0" for tag in tag_list)
        return Verified(
            delivery_id=delivery_id,
            event_type=f"tag:{tags}" if tags else "",
            payload=request.body,
            response=common.json_response(200, SUCCESS),
            process=not handshake,
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        if is_detail(payload):  # a record fetched by the poller, not a push
            return detail_normalize(account, payload)
        result = []
        for tag, data, path in _messages(payload):
            if is_aftersale(tag):
                # An unreadable after-sale message fails here, terminally, not in ``feedback``.
                aftersale_reports(tag, data, f"{path}.data")
                external_id = common.text(data.get("p_id"), f"{path}.data.p_id", max_length=128)
                result.append(NormalizedOrder(channel=account.code, external_id=external_id))
                continue
            result.append(self._order(account, tag, data, path))
        return result

    def feedback_expected(self, event_type: str) -> bool:
        tags = event_type.removeprefix("tag:").split(",")
        # Intake cuts the tag list at 64 characters; an imported message may have none.
        return not event_type or len(event_type) >= 64 or any(map(is_aftersale, tags))

    def feedback(
        self, account: AccountConfig, payload: Any, *, event_type: str
    ) -> Sequence[FeedbackReport]:
        if is_detail(payload):
            return []
        return [
            report
            for tag, data, path in _messages(payload)
            if is_aftersale(tag)
            for report in aftersale_reports(tag, data, f"{path}.data")
        ]

    def _order(
        self, account: AccountConfig, tag: str, data: Mapping[str, Any], path: str
    ) -> NormalizedOrder:
        external_id = common.text(data.get("p_id"), f"{path}.data.p_id", max_length=128)
        when: datetime | None = None
        for name in TIME_FIELDS:
            if data.get(name) not in (None, "", 0):
                when = common.epoch_time(data[name], f"{path}.data.{name}")
                break
        facts = (StatusFactIn(account.system, f"tag:{tag}", None, when),) if when else ()
        receiver = common.mapping(data.get("receiver_msg") or {}, f"{path}.data.receiver_msg")
        addr = receiver.get("addr")
        province = city = district = street = None
        if isinstance(addr, Mapping):
            province = _name(addr.get("province"))
            city = _name(addr.get("city"))
            district = _name(addr.get("town"))
            street = common.optional_text(addr.get("detail"), f"{path}.data.receiver_msg.detail")
        elif addr is not None:
            street = common.optional_text(addr, f"{path}.data.receiver_msg.addr")
        logistics = common.mapping(data.get("logistics_msg") or {}, f"{path}.data.logistics_msg")
        order_type = data.get("order_type")
        return NormalizedOrder(
            channel=account.code,
            external_id=external_id,
            receiver_name=common.optional_text(
                receiver.get("name"), f"{path}.data.receiver_msg.name"
            ),
            receiver_phone=common.optional_text(
                receiver.get("tel"), f"{path}.data.receiver_msg.tel", max_length=32
            ),
            country="CN" if province else None,
            province=province,
            city=city,
            district=district,
            address=street,
            currency="CNY" if "pay_amount" in data or "total_amount" in data else None,
            total_amount=common.optional_fen(
                data.get("pay_amount", data.get("total_amount")), f"{path}.data.pay_amount"
            ),
            shipping_amount=common.optional_fen(
                data.get("post_amount"), f"{path}.data.post_amount"
            ),
            order_type=ORDER_TYPES.get(order_type) if isinstance(order_type, int) else None,
            carrier=common.optional_text(
                logistics.get("express_company_id"), f"{path}.data.logistics_msg.express_company_id"
            ),
            tracking_number=common.optional_text(
                logistics.get("logistics_code"), f"{path}.data.logistics_msg.logistics_code"
            ),
            placed_at=common.epoch_time(data["create_time"], f"{path}.data.create_time")
            if data.get("create_time")
            else None,
            paid_at=common.epoch_time(data["pay_time"], f"{path}.data.pay_time")
            if data.get("pay_time")
            else None,
            facts=facts,
        )


def _messages(payload: Any) -> list[tuple[str, Mapping[str, Any], str]]:
    """(tag, data, path of the message) of each message of a push, the verification ones
    left out."""
    result = []
    for index, raw in enumerate(common.sequence(payload, "body")):
        path = f"body[{index}]"
        message = common.mapping(raw, path)
        tag = _tag(message, path)
        if tag == "0":
            continue
        data = message.get("data")
        if isinstance(data, str):
            data = common.loads_nested(data, f"{path}.data")
        result.append((tag, common.mapping(data, f"{path}.data"), path))
    return result


def _name(value: Any) -> str | None:
    """Douyin address parts are ``{"id": ..., "name": ...}`` objects or plain strings."""
    if isinstance(value, Mapping):
        value = value.get("name")
    return value.strip() or None if isinstance(value, str) else None
