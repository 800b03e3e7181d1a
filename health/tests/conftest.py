"""The real intake paths for the engine's tests: a signed channel webhook (the test HMAC
adapter), the WMS facts API and courier pushes; times relative to now, so the clock-driven
rules see what a live flow would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app.models import ChannelAccount, SystemFactReceipt, SystemReporter
from channels_app.services import channel_account_create, inbox_process_pending
from channels_app.services.system_facts import system_facts_apply_received
from channels_app.tests.conftest import account, hook_headers, order_body, test_adapter
from orderhub.models import Warehouse
from tests.factories import WarehouseFactory

__all__ = ["account", "test_adapter"]

SHOP = "test-shop"
SHOP_SYSTEM = "test_hmac:test-shop"


def ago(minutes: float = 0, *, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=minutes)


class Flow:
    """Drives one order through the intake paths."""

    def __init__(self, wms_users: dict[str, User]) -> None:
        self.client = Client()
        self.wms_users = wms_users
        self.deliveries = 0

    def channel(self, order_id: str, status: str, at: datetime, **extra: Any) -> None:
        """A signed webhook of the shop, then the inbox processed."""
        self.deliveries += 1
        body = order_body({"id": order_id, "status": status, "at": at.isoformat(), **extra})
        headers = hook_headers(body, delivery=f"d-{self.deliveries}")
        response = self.client.post(
            f"/hooks/{SHOP}/", data=body, content_type="application/json", headers=headers
        )
        assert response.status_code == 200, response.content
        inbox_process_pending()

    def wms(self, order_id: str, raw: str, at: datetime, wms: str = "wms-sh", **extra: Any) -> Any:
        """One fact of the WMS through ``POST /api/v1/facts/``."""
        self.deliveries += 1
        client = APIClient()
        token, _created = Token.objects.get_or_create(user=self.wms_users[wms])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        body = {
            "key": f"k-{self.deliveries}", "system": wms, "raw_status": raw,
            "order": {"channel": SHOP, "external_id": order_id},
            "occurred_at": at.isoformat(), **extra,
        }  # fmt: skip
        response = client.post("/api/v1/facts/", body, format="json")
        assert response.status_code == 202, response.content
        # Stored first; the worker's task applies it. What it did, as the receipt keeps it.
        assert system_facts_apply_received() == 1
        return SystemFactReceipt.objects.get(key=body["key"]).result

    def stock(self, sku: str, on_hand: int, wms: str = "wms-sh", warehouse: str = "WH-SH") -> None:
        """The WMS reports what it holds through ``POST /api/v1/stock/``."""
        client = APIClient()
        token, _created = Token.objects.get_or_create(user=self.wms_users[wms])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        body = {"system": wms, "levels": [{"sku": sku, "warehouse": warehouse, "on_hand": on_hand}]}
        response = client.post("/api/v1/stock/", body, format="json")
        assert response.status_code == 200, response.content


def _wms(code: str, warehouse: str) -> User:
    WarehouseFactory.create(code=warehouse)
    wms = channel_account_create(
        kind="wms", code=code, options={"warehouse": warehouse}, secrets={}
    )
    user = User.objects.create_user(f"{code}-bot")
    SystemReporter.objects.create(account=wms, user=user)
    return user


@pytest.fixture
def flow(account: ChannelAccount) -> Flow:
    from channels_app.services.mapping import status_mapping_save

    status_mapping_save(kind="test_hmac", raw_status="CANCELLED", milestone="cancelled")
    return Flow({"wms-sh": _wms("wms-sh", "WH-SH"), "wms-bj": _wms("wms-bj", "WH-BJ")})


@pytest.fixture
def warehouse() -> Warehouse:
    return Warehouse.objects.get(code="WH-SH")
