"""Write-back that cannot finish: an entry whose request cannot be built fails at once with the
reason; attempts never pass the limit; one entry never stops the sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from channels_app.models import ChannelAccount, OutboundCall, OutboundOutcome, OutboxEntry
from channels_app.models import OutboxStatus as S
from channels_app.outbound.base import writers
from channels_app.outbound.relay import outbox_relay_pending
from channels_app.outbound.services import outbox_entry_requeue
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import shop_account
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order
from orderhub.services import order_upsert
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db(transaction=True)
WMS = "wms:WH-SH"


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def _shipped_order(account: ChannelAccount, external_id: str) -> Order:
    """A paid order of ``account`` the warehouse labelled: its write-back entry is pending."""
    system = f"{account.kind}:{account.code}"
    order_upsert(
        normalized=NormalizedOrder(
            channel=account.code, external_id=external_id,
            facts=(StatusFactIn(system, "paid", "paid", timezone.now()),),
        ),
        user=None, source=system,
    )  # fmt: skip
    order_upsert(
        normalized=NormalizedOrder(
            channel=account.code, external_id=external_id, carrier="shunfeng",
            tracking_number=f"SF{external_id}",
            facts=(StatusFactIn(WMS, "LABEL_PRINTED", "waybill_issued", timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip
    return Order.objects.get(channel=account.code, external_id=external_id)


def _bare_shopify(api: SandboxAPI) -> ChannelAccount:
    """A Shopify account stored before write-back needs were checked: no ``shop_domain``, no
    ``base_url``."""
    account = shop_account(api, kind="shopify", code="shopify-bare")
    ChannelAccount.objects.filter(pk=account.pk).update(options={})
    return ChannelAccount.objects.get(pk=account.pk)


def test_an_entry_whose_request_cannot_be_built_fails_at_once_and_the_next_is_sent(
    api: SandboxAPI,
) -> None:
    bare = _bare_shopify(api)
    healthy = shop_account(api, kind="shopify", code="shopify-shop")
    api.shops.shopify_order_add("820982911946154508")
    bare_order = _shipped_order(bare, "820982911946154001")
    healthy_order = _shipped_order(healthy, "820982911946154508")
    broken = OutboxEntry.objects.get(order=bare_order)
    sent = OutboxEntry.objects.get(order=healthy_order)
    assert broken.pk < sent.pk  # the broken one is claimed first

    assert outbox_relay_pending() == 2

    broken.refresh_from_db()
    sent.refresh_from_db()
    assert (broken.status, broken.attempts, broken.lease_until) == (S.FAILED, 1, None)
    assert broken.last_error.startswith("the request cannot be built: InvalidURL: ")
    calls = list(OutboundCall.objects.filter(outbox=broken).values("outcome", "error"))
    assert len(calls) == 1
    assert calls[0]["outcome"] == OutboundOutcome.TERMINAL
    assert calls[0]["error"] == broken.last_error
    failed = LedgerEvent.objects.get(action="outbox.failed", subject_id=broken.pk)
    assert failed.after == {"error": broken.last_error, "attempts": 1}
    assert (sent.status, sent.attempts) == (S.ACKNOWLEDGED, 1)
    assert api.effective[("shopify", "820982911946154508")] == 1

    # Nothing is claimed again: the failed entry waits for a person ("send again").
    assert outbox_relay_pending() == 0
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == (S.FAILED, 1)
    assert OutboundCall.objects.filter(outbox=broken).count() == 1


def test_an_entry_whose_relay_died_on_its_last_attempt_fails_without_another_attempt(
    api: SandboxAPI, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    account = shop_account(api, kind="shopify", code="shopify-shop")
    api.shops.shopify_order_add("820982911946154508")
    entry = OutboxEntry.objects.get(order=_shipped_order(account, "820982911946154508"))
    OutboxEntry.objects.filter(pk=entry.pk).update(
        status=S.SENDING, attempts=3, lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert outbox_relay_pending() == 0

    entry.refresh_from_db()
    assert (entry.status, entry.attempts, entry.lease_until) == (S.FAILED, 3, None)
    assert entry.last_error == "gave up after 3 attempts: the relay did not finish"
    assert OutboundCall.objects.filter(outbox=entry).count() == 0
    assert api.effective.get(("shopify", "820982911946154508"), 0) == 0
    assert LedgerEvent.objects.filter(action="outbox.failed", subject_id=entry.pk).count() == 1

    # "Send again" counts the attempts afresh, and the next sweep sends it.
    outbox_entry_requeue(entry_id=entry.pk)
    assert outbox_relay_pending() == 1
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (S.ACKNOWLEDGED, 1)
    assert api.effective[("shopify", "820982911946154508")] == 1


def test_an_unforeseen_error_is_recorded_on_its_entry_and_never_stops_the_sweep(
    api: SandboxAPI, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 2
    woo = shop_account(api, kind="woocommerce", code="woo-shop")
    shopify = shop_account(api, kind="shopify", code="shopify-shop")
    api.shops.woo_order_add("727")
    api.shops.shopify_order_add("820982911946154508")
    crashing = OutboxEntry.objects.get(order=_shipped_order(woo, "727"))
    healthy = OutboxEntry.objects.get(order=_shipped_order(shopify, "820982911946154508"))

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("writer bug")

    monkeypatch.setitem(writers._entries, "woocommerce", crash)

    assert outbox_relay_pending() == 2

    crashing.refresh_from_db()
    healthy.refresh_from_db()
    assert (crashing.status, crashing.attempts) == (S.RETRY, 1)
    assert crashing.last_error == "RuntimeError: writer bug"
    assert (healthy.status, healthy.attempts) == (S.ACKNOWLEDGED, 1)

    # The last attempt crashes too: the entry fails with the reason, attempts stay at the limit.
    OutboxEntry.objects.filter(pk=crashing.pk).update(next_attempt_at=timezone.now())
    assert outbox_relay_pending() == 1
    crashing.refresh_from_db()
    assert (crashing.status, crashing.attempts) == (S.FAILED, 2)
    assert crashing.last_error == "gave up after 2 attempts: RuntimeError: writer bug"
    assert outbox_relay_pending() == 0
    assert OutboxEntry.objects.get(pk=crashing.pk).attempts == 2
