"""Kuaidi100 (快递100) subscription pushes.

The push is a form POST with ``param`` (JSON text) and ``sign`` = upper-case MD5 of the
``param`` text exactly as received (after form decoding) followed by the subscription's salt.
Kuaidi100 expects ``{"result":true,"returnCode":"200","message":"成功"}`` and pushes again
otherwise. Each push is the waybill's whole trace (``lastResult.data``, newest first) and has
no message id: intake dedupes by body hash and the events dedupe one by one.

States: base codes 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签, 5 派件, 6 退回, 7 转投, 8 and 10-13
清关, 14 拒签; with ``resultv2`` the events carry sub-state codes (101 已下单, 102 待揽收,
103 已揽收, 1001-1003 in transit, 501 locker or station, 301-304 signed, 401 cancelled) and
``lastResult.state`` itself can be a sub-state code (``304``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    InboundRequest,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import TrackingStage
from orderhub.domain import NormalizedTracking, TrackingEventIn

ACCEPTED = {"result": True, "returnCode": "200", "message": "成功"}
REFUSED = {"result": False, "returnCode": "500", "message": "签名校验失败"}

# Base state code -> stage.
BASE_STAGES: dict[str, str] = {
    "0": TrackingStage.IN_TRANSIT,
    "1": TrackingStage.IN_TRANSIT,  # 揽收: the carrier has the parcel
    "2": TrackingStage.EXCEPTION,
    "3": TrackingStage.DELIVERED,
    "4": TrackingStage.RETURNED,
    "5": TrackingStage.OUT_FOR_DELIVERY,
    "6": TrackingStage.RETURNING,
    "7": TrackingStage.IN_TRANSIT,
    "8": TrackingStage.IN_TRANSIT,
    "10": TrackingStage.IN_TRANSIT,
    "11": TrackingStage.IN_TRANSIT,
    "12": TrackingStage.IN_TRANSIT,
    "13": TrackingStage.EXCEPTION,
    "14": TrackingStage.RETURNED,
}
# resultv2 sub-state code -> (base code, stage).
SUB_STAGES: dict[str, tuple[str, str]] = {
    "101": ("1", TrackingStage.INFO_RECEIVED),
    "102": ("1", TrackingStage.INFO_RECEIVED),
    "103": ("1", TrackingStage.IN_TRANSIT),
    "1001": ("0", TrackingStage.IN_TRANSIT),
    "1002": ("0", TrackingStage.IN_TRANSIT),
    "1003": ("0", TrackingStage.IN_TRANSIT),
    "501": ("5", TrackingStage.AVAILABLE_FOR_PICKUP),
    "301": ("3", TrackingStage.DELIVERED),
    "302": ("3", TrackingStage.DELIVERED),
    "303": ("3", TrackingStage.DELIVERED),
    "304": ("3", TrackingStage.DELIVERED),
    "401": ("4", TrackingStage.RETURNED),
}
# The state words of a push without resultv2 (``data[].status``).
STATE_WORDS: dict[str, str] = {
    "在途": "0", "揽收": "1", "疑难": "2", "签收": "3", "退签": "4", "派件": "5", "退回": "6",
    "转投": "7", "清关": "8", "待清关": "10", "清关中": "11", "已清关": "12", "清关异常": "13",
    "拒签": "14",
}  # fmt: skip


def kuaidi100_sign(param: str, salt: str) -> str:
    """``upper(md5_hex(param + salt))``: what Kuaidi100 sends as ``sign``."""
    return hashlib.md5((param + salt).encode()).hexdigest().upper()  # noqa: S324 - the protocol


def state_of(code: str, word: str = "") -> tuple[str, str, str]:
    """(base code, sub-state code or '', stage) for an event's ``statusCode`` / ``status``."""
    code = code.strip()
    if not code and word.strip() in STATE_WORDS:
        code = STATE_WORDS[word.strip()]
    if code in SUB_STAGES:
        base, stage = SUB_STAGES[code]
        return base, code, stage
    if code in BASE_STAGES:
        return code, "", BASE_STAGES[code]
    if len(code) == 3 and code[0] in BASE_STAGES:  # other 2xx/3xx/...: the family's stage
        return code[0], code, BASE_STAGES[code[0]]
    return code or word.strip()[:64], "", TrackingStage.UNKNOWN


@adapters.register("kuaidi100")
class Kuaidi100Adapter(ChannelAdapter):
    kind = "kuaidi100"
    label = str(_("Kuaidi100 tracking push"))
    options = (
        OptionSpec("salt", "The salt sent with each subscription; signs the pushes", secret=True),
        OptionSpec("key", "API key of the subscribe and query calls", required=False, secret=True),
        OptionSpec(
            "callback_url", "This account's push URL as Kuaidi100 must call it", required=False
        ),
        OptionSpec("customer", "Customer id of the real-time query (overdue poll)", required=False),
        OptionSpec(
            "base_url",
            "API root (default https://poll.kuaidi100.com; a sandbox's URL in tests)",
            required=False,
        ),
    )
    default_status_map = common.TRACKING_STAGE_MILESTONES

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise VerificationError(
                "body is not UTF-8 form data", response=common.json_response(400, REFUSED)
            ) from None
        params, signs = form.get("param", []), form.get("sign", [])
        if len(params) != 1 or len(signs) != 1:
            raise VerificationError(
                "expected one param and one sign form field",
                response=common.json_response(400, REFUSED),
            )
        expected = kuaidi100_sign(params[0], common.secret(account, "salt"))
        if not common.same(expected, signs[0].strip().upper()):
            raise VerificationError(
                "sign does not match md5(param + salt)",
                response=common.json_response(400, REFUSED),
            )
        monitor = common.peek_json(params[0].encode())
        status = monitor.get("status", "") if isinstance(monitor, dict) else ""
        return Verified(
            delivery_id="",
            event_type=f"tracking.{status}" if isinstance(status, str) and status else "tracking",
            payload=params[0].encode(),
            response=common.json_response(200, ACCEPTED),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedTracking]:
        root = common.mapping(payload, "param")
        result = common.mapping(root.get("lastResult"), "param.lastResult")
        number = common.text(result.get("nu"), "lastResult.nu", max_length=64)
        carrier = common.optional_text(root.get("comNew"), "comNew", max_length=64) or (
            common.optional_text(result.get("com"), "lastResult.com", max_length=64) or ""
        )
        events: list[TrackingEventIn] = []
        for index, item in enumerate(common.sequence(result.get("data") or [], "lastResult.data")):
            path = f"lastResult.data[{index}]"
            row = common.mapping(item, path)
            word = common.optional_text(row.get("status"), f"{path}.status", max_length=64) or ""
            code = common.optional_text(row.get("statusCode"), f"{path}.statusCode") or ""
            base, sub, stage = state_of(code, word)
            events.append(
                common.tracking_event(
                    system=account.system,
                    carrier=carrier,
                    tracking_number=number,
                    occurred_at=common.china_time(row.get("ftime") or row.get("time"), path),
                    stage=stage,
                    raw_state=base,
                    raw_substate=sub,
                    description=common.optional_text(row.get("context"), f"{path}.context") or "",
                    location=(
                        common.optional_text(row.get("areaName"), f"{path}.areaName")
                        or common.optional_text(row.get("location"), f"{path}.location")
                        or ""
                    ),
                )
            )
        status = root.get("status")
        return [
            NormalizedTracking(
                system=account.system,
                carrier=carrier,
                tracking_number=number,
                events=tuple(events),
                monitor_state=status if isinstance(status, str) else "",
            )
        ]
