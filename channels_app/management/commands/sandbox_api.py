"""``manage.py sandbox_api [--port PORT] [--orders 30] [--erp-database NAME]``.

Serves the sandbox platform APIs (Amazon SP-API + LWA, Pinduoduo router, Douyin gateway)
on 127.0.0.1, with a few orders per platform, prints its URL and the ``channel_add``
commands that point accounts at it, and runs until interrupted. Faults on demand:
``POST /_sandbox/faults`` with ``{"rate_limit": {"getOrders": 3}, "server_error": {...},
"slow": {...}, "hold_after_effect": {...}, "expire_tokens": true}``; counters at
``GET /_sandbox/stats``. ``--feedback SHARE``: that share of the Pinduoduo orders carry an
after-sale (``after_sales_status``) when first polled, and one in four of those is in the
platform's hands (8, a complaint); ``POST /_sandbox/after_sale`` with ``{"order_sn", "status"}``
moves one on.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import (
    AMAZON_CLIENT,
    DOUYIN_APP,
    PDD_CLIENT,
    WECHAT_MP_TOKEN,
)


class Command(BaseCommand):
    help = "Serve the sandbox platform APIs (pull and write-back) on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=None,
            help="port on 127.0.0.1 (default: SANDBOX_API_PORT, 8765 unless set)",
        )  # fmt: skip
        parser.add_argument("--orders", type=int, default=30, help="orders per platform")
        parser.add_argument(
            "--late-wms", type=int, default=1,
            help="Pinduoduo orders paid 45 h ago whose ship-by is 3 h away (the late_wms "
            "fault: sla_at_risk once polled); 0 for none",
        )  # fmt: skip
        parser.add_argument(
            "--feedback", type=float, default=0.0, metavar="SHARE",
            help="share of the Pinduoduo orders with an after-sale (a return; some in the "
            "platform's hands: a complaint) when first polled; default 0",
        )  # fmt: skip
        parser.add_argument(
            "--setup", action="store_true",
            help="create the accounts that point at this sandbox (existing codes are kept)",
        )  # fmt: skip
        parser.add_argument(
            "--erp-database", default="",
            help="also create this database with the kingdee_k3 intermediate tables",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"] if options["port"] is not None else settings.SANDBOX_API_PORT
        api = SandboxAPI(port=port)
        client_id, client_secret, refresh = AMAZON_CLIENT
        api.amazon.client_add(client_id, client_secret, refresh)
        pdd_id, pdd_secret, pdd_token = PDD_CLIENT
        api.pinduoduo.client_add(pdd_id, pdd_secret, pdd_token)
        app_key, app_secret, douyin_token = DOUYIN_APP
        api.douyin.app_add(app_key, app_secret, douyin_token)
        api.wechat_mp.token_add(WECHAT_MP_TOKEN)
        api.wechat_mp.any_follower = True
        now = datetime.now(UTC)
        rng = random.Random(20261202)
        for number in range(options["orders"]):
            updated = now - timedelta(minutes=5 + 7 * number)
            api.amazon.order_add(status="Unshipped", updated=updated, number=number)
            order_sn = api.pinduoduo.order_add(updated=updated, number=number)
            if rng.random() < options["feedback"]:
                status = rng.choice([3, 4, 10, 10, 6, 8])  # 8: the platform is handling it
                api.pinduoduo.after_sale(order_sn, status, at=updated + timedelta(minutes=1))
        for number in range(options["late_wms"]):
            api.pinduoduo.order_add(
                updated=now - timedelta(minutes=4), number=900_000 + number,
                ship_within=timedelta(hours=3),
            )  # fmt: skip
        api.start()
        url = api.url
        self.stdout.write(f"Sandbox platform APIs: {url}  (stats: {url}/_sandbox/stats)")
        self.stdout.write(
            f"WeChat Official Account stand-in: WECHAT_MP_API_BASE={url} "
            f"WECHAT_MP_ACCESS_TOKEN={WECHAT_MP_TOKEN} WECHAT_MP_TEMPLATE_ID=demo-confirm"
        )
        self.stdout.write("Point accounts at it:")
        self.stdout.write(
            f"  manage.py channel_add --kind amazon --code amazon-sandbox"
            f" --option client_id={client_id} --option marketplace_ids={api.amazon.marketplace}"
            f" --option base_url={url} --option token_url={url}/auth/o2/token"
            f" --secret client_secret={client_secret} --secret 'refresh_token={refresh}'"
        )
        self.stdout.write(
            f"  manage.py channel_add --kind pinduoduo --code pdd-sandbox"
            f" --option client_id={pdd_id} --option base_url={url}/api/router"
            f" --secret client_secret={pdd_secret} --secret access_token={pdd_token}"
        )
        self.stdout.write(
            f"  manage.py channel_add --kind douyin --code douyin-sandbox"
            f" --option app_key={app_key} --option base_url={url}"
            f" --secret app_secret={app_secret} --secret access_token={douyin_token}"
        )
        dsn = ""
        if options["erp_database"]:
            from django.db import connection

            from channels_app.sandbox_api.erp import erp_database_create

            params = connection.get_connection_params()
            server = " ".join(
                f"{key}={params[key]}" for key in ("host", "port", "user", "dbname")
                if params.get(key)
            )  # fmt: skip
            dsn = erp_database_create(server_dsn=server, name=options["erp_database"])
            self.stdout.write(
                f"  manage.py channel_add --kind kingdee_k3 --code erp-sandbox --secret 'dsn={dsn}'"
            )
        if options["setup"]:
            self._setup(api, dsn)
        self.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            api.stop()

    def _setup(self, api: SandboxAPI, erp_dsn: str) -> None:
        """Accounts for the demo: the same secrets the sandbox was given above."""
        from channels_app.models import ChannelAccount
        from channels_app.sandbox_api.testing import (
            amazon_account,
            douyin_account,
            kingdee_account,
            pinduoduo_account,
        )

        wanted = [
            ("amazon-sandbox", lambda code: amazon_account(api, code=code)),
            ("pdd-sandbox", lambda code: pinduoduo_account(api, code=code)),
            ("douyin-pull-sandbox", lambda code: douyin_account(api, code=code)),
        ]
        if erp_dsn:
            wanted.append(("erp-sandbox", lambda code: kingdee_account(erp_dsn, code=code)))
        for code, create in wanted:
            if ChannelAccount.objects.filter(code=code).exists():
                self.stdout.write(f"account {code}: exists")
            else:
                create(code)
                self.stdout.write(f"account {code}: created")
