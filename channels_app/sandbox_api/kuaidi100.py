"""A Kuaidi100 stand-in: the subscription (``POST /poll``) and the real-time query
(``POST /poll/query.do``) with the real form formats.

Subscribe: form ``schema=json`` and ``param`` (JSON text with ``company``, ``number``, ``key``
and ``parameters.callbackurl/salt/resultv2``); answers returnCode 200 提交成功, 501 for a
number subscribed before, 600 for an unknown key, 700 for a missing number or company.
Query: form ``customer``, ``param`` (``com``, ``num``) and ``sign`` = upper(md5(param + key +
customer)); a bad sign answers ``{"result": false, "returnCode": "503", ...}``; a number
without a trace answers 500 查询无结果. A subscribed number has a trace (set with
``trace_set``, or a generated one: accepted when subscribed, then in transit up to 3 hours
later, never in the future).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from channels_app.sandbox_api.core import Reply, Request, SandboxCore

CHINA = ZoneInfo("Asia/Shanghai")


def _sign(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the protocol


def _refused(code: str, message: str) -> Reply:
    return Reply(200, {"result": False, "returnCode": code, "message": message})


class Kuaidi100Sandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.keys: dict[str, str] = {}  # key -> customer
        self.subscriptions: dict[str, dict[str, Any]] = {}  # number -> the subscription
        self.traces: dict[str, dict[str, Any]] = {}  # number -> {"state", "data"}
        self.queries: list[dict[str, str]] = []  # the query forms received, in order

    def account_add(self, key: str, customer: str) -> None:
        with self.api.lock:
            self.keys[key] = customer

    def trace_set(self, number: str, data: list[dict[str, Any]], state: str = "0") -> None:
        """The trace the query answers for ``number`` (``data`` newest first, as served)."""
        with self.api.lock:
            self.traces[number] = {"state": state, "data": list(data)}

    def route(self, request: Request) -> Reply | None:
        if request.path == "/poll" and request.method == "POST":
            return self.api.guarded("kuaidi100.subscribe", lambda: self._subscribe(request))
        if request.path == "/poll/query.do" and request.method == "POST":
            return self.api.guarded("kuaidi100.query", lambda: self._query(request))
        return None

    def _subscribe(self, request: Request) -> Reply:
        form = request.form()
        if form.get("schema") != "json" or "param" not in form:
            return _refused("700", "订阅参数错误: schema=json 与 param 必填")
        try:
            param = json.loads(form["param"])
        except ValueError:
            return _refused("700", "订阅参数错误: param 不是 JSON")
        if not isinstance(param, dict) or param.get("key") not in self.keys:
            return _refused("600", "您不是合法的订阅者")
        number, company = str(param.get("number") or ""), str(param.get("company") or "")
        if not number or not company:
            return _refused("700", "订阅参数错误: 单号或快递公司为空")
        with self.api.lock:
            if number in self.subscriptions:
                return _refused("501", "重复订阅")
            self.subscriptions[number] = {
                "company": company,
                "number": number,
                "key": param["key"],
                "parameters": dict(param.get("parameters") or {}),
                "at": datetime.now(CHINA),
            }
            self.api.effective[("kuaidi100", number)] += 1
        return Reply(200, {"result": True, "returnCode": "200", "message": "提交成功"})

    def _query(self, request: Request) -> Reply:
        form = request.form()
        customer, sign, text = form.get("customer", ""), form.get("sign", ""), form.get("param")
        with self.api.lock:
            self.queries.append(dict(form))
            key = next((k for k, c in self.keys.items() if c == customer), None)
        if text is None or key is None or _sign(text + key + customer) != sign.strip().upper():
            return _refused("503", "验证签名失败")
        try:
            param = json.loads(text)
        except ValueError:
            return _refused("400", "找不到对应公司")
        number, company = str(param.get("num") or ""), str(param.get("com") or "")
        with self.api.lock:
            trace = self.traces.get(number)
            subscription = self.subscriptions.get(number)
        if trace is None and subscription is not None:
            trace = self._generated(subscription["at"])
        if trace is None:
            return _refused("500", "查询无结果，请隔段时间再查")  # noqa: RUF001 - the wording
        return Reply(
            200,
            {
                "message": "ok",
                "nu": number,
                "ischeck": "1" if str(trace["state"]).startswith("3") else "0",
                "condition": "00",
                "com": company or (subscription or {}).get("company", ""),
                "status": "200",
                "state": trace["state"],
                "data": trace["data"],
            },
        )

    @staticmethod
    def _generated(at: datetime) -> dict[str, Any]:
        def row(when: datetime, context: str, status: str, code: str, area: str) -> dict[str, str]:
            text = when.strftime("%Y-%m-%d %H:%M:%S")
            return {"time": text, "ftime": text, "context": context, "status": status,
                    "statusCode": code, "areaName": area}  # fmt: skip

        first = at.replace(microsecond=0)
        later = min(first + timedelta(hours=3), datetime.now(CHINA).replace(microsecond=0))
        return {
            "state": "1002",
            "data": [
                row(later, "快件已发往杭州转运中心", "干线", "1002", "上海"),
                row(first, "快件已揽收", "揽收", "1", "上海"),
            ],
        }
