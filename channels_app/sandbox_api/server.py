"""The sandbox HTTP server: every platform on one port, routing and the control paths."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from channels_app.sandbox_api.alert_receivers import AlertReceivers
from channels_app.sandbox_api.amazon import AmazonSandbox
from channels_app.sandbox_api.core import Reply, Request, SandboxCore
from channels_app.sandbox_api.douyin import DouyinSandbox
from channels_app.sandbox_api.kuaidi100 import Kuaidi100Sandbox
from channels_app.sandbox_api.pinduoduo import PinduoduoSandbox
from channels_app.sandbox_api.shops import ShopsSandbox
from channels_app.sandbox_api.wechat_mp import WechatMpSandbox
from channels_app.sandbox_api.wms import WmsSandbox

logger = logging.getLogger(__name__)


class SandboxAPI(SandboxCore):
    """All sandbox platforms on one port. ``start()`` serves in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.amazon = AmazonSandbox(self)
        self.pinduoduo = PinduoduoSandbox(self)
        self.douyin = DouyinSandbox(self)
        self.shops = ShopsSandbox(self)
        self.kuaidi100 = Kuaidi100Sandbox(self)
        self.wechat_mp = WechatMpSandbox(self)
        self.alerts = AlertReceivers(self)
        self.wms = WmsSandbox(self)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("sandbox_api " + format, *args)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = api.dispatch(request)
                data = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller died while we held the answer: that is the point

            do_GET = do_POST = do_PUT = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> SandboxAPI:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.faults.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def dispatch(self, request: Request) -> Reply:
        try:
            if request.path.startswith("/_sandbox/"):
                return self._control(request)
            for platform in (
                self.amazon,
                self.pinduoduo,
                self.douyin,
                self.shops,
                self.kuaidi100,
                self.wechat_mp,
                self.alerts,
                self.wms,
            ):
                reply = platform.route(request)
                if reply is not None:
                    return reply
            return Reply(404, {"error": "not found", "path": request.path})
        except (ValueError, KeyError, TypeError) as exc:
            return Reply(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _control(self, request: Request) -> Reply:
        if request.path == "/_sandbox/stats":
            with self.lock:
                return Reply(
                    200,
                    {
                        "calls": dict(self.calls),
                        "effective": {f"{p}:{o}": n for (p, o), n in self.effective.items()},
                    },
                )
        if request.path == "/_sandbox/faults" and request.method == "POST":
            body = request.json() or {}
            with self.faults.lock:
                self.faults.rate_limit.update(body.get("rate_limit", {}))
                self.faults.server_error.update(body.get("server_error", {}))
                self.faults.slow.update(body.get("slow", {}))
                self.faults.hold_after_effect.update(body.get("hold_after_effect", {}))
            if body.get("expire_tokens"):
                self.amazon.expire_tokens()
            return Reply(200, {"ok": True})
        if request.path == "/_sandbox/late_wms" and request.method == "POST":
            # The late_wms fault on demand: Pinduoduo orders paid two days before their
            # ship-by, which is ``hours`` (default 3) away; the next poll brings them in.
            body = request.json() or {}
            now = datetime.now(UTC)
            within = timedelta(hours=float(body.get("hours", 3)))
            base = 900_000 + len(self.pinduoduo.orders)
            order_sns = [
                self.pinduoduo.order_add(updated=now, number=base + n, ship_within=within)
                for n in range(int(body.get("count", 1)))
            ]
            return Reply(200, {"order_sn": order_sns})
        if request.path == "/_sandbox/after_sale" and request.method == "POST":
            # A Pinduoduo buyer's after-sale moves on: {"order_sn": ..., "status": 3}.
            body = request.json() or {}
            self.pinduoduo.after_sale(
                str(body["order_sn"]), int(body["status"]), at=datetime.now(UTC)
            )
            return Reply(200, {"ok": True})
        if request.path == "/_sandbox/faults/clear":
            self.faults.clear()
            return Reply(200, {"ok": True})
        return Reply(404, {"error": "unknown control path"})
