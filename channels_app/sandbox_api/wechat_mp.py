"""WeChat Official Account stand-in: ``POST /cgi-bin/message/template/send?access_token=``.

Answers like WeChat: ``{"errcode": 0, "errmsg": "ok", "msgid": n}``; an unknown access token
gives ``40001`` ("invalid credential"), a body without ``touser``/``template_id`` ``47001``
(data format error), an unknown openid ``40003``. Accepted messages are kept in ``sent``.
"""

from __future__ import annotations

import itertools
from typing import Any

from channels_app.sandbox_api.core import Reply, Request, SandboxCore

SEND_PATH = "/cgi-bin/message/template/send"


class WechatMpSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.tokens: set[str] = set()
        self.openids: set[str] = set()
        # The demo has no real followers: any openid is accepted when this is on.
        self.any_follower = False
        self.sent: list[dict[str, Any]] = []
        self._msgid = itertools.count(2000000001)

    def token_add(self, access_token: str) -> None:
        with self.api.lock:
            self.tokens.add(access_token)

    def follower_add(self, openid: str) -> None:
        with self.api.lock:
            self.openids.add(openid)

    def route(self, request: Request) -> Reply | None:
        if request.path != SEND_PATH:
            return None
        return self.api.guarded("wechat_mp.template_send", lambda: self._send(request))

    def _send(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply(200, {"errcode": 43002, "errmsg": "require POST method"})
        if request.query.get("access_token") not in self.tokens:
            return Reply(200, {"errcode": 40001, "errmsg": "invalid credential"})
        body = request.json()
        if not isinstance(body, dict) or not body.get("touser") or not body.get("template_id"):
            return Reply(200, {"errcode": 47001, "errmsg": "data format error"})
        if not isinstance(body.get("data"), dict):
            return Reply(200, {"errcode": 47001, "errmsg": "data format error"})
        if body["touser"] not in self.openids and not self.any_follower:
            return Reply(200, {"errcode": 40003, "errmsg": "invalid openid"})
        with self.api.lock:
            msgid = next(self._msgid)
            self.sent.append({**body, "msgid": msgid})
        return Reply(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})
