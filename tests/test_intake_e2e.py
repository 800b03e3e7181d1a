"""Acceptance: sandbox traffic over real HTTP converges on exactly the expected orders."""

from __future__ import annotations

from typing import Any

import pytest

from channels_app.models import InboundMessage, InboxStatus, QuarantinedDelivery
from channels_app.sandbox import engine
from channels_app.sandbox.accounts import sandbox_account, sandbox_accounts_setup
from channels_app.sandbox.generator import PUSH_KINDS
from channels_app.services import inbox_process_pending
from orderhub.models import Order

PREFIX = "e2e"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_thousand_deliveries_converge_exactly(live_server: Any) -> None:
    sandbox_accounts_setup(kinds=PUSH_KINDS, prefix=PREFIX)
    accounts = [sandbox_account(kind, prefix=PREFIX) for kind in PUSH_KINDS]
    config = engine.RunConfig(
        url=live_server.url,
        rate=0,
        count=2100,
        duplicates=0.3,
        bad_signatures=0.02,
        hostile=0.05,
        seed=20250601,
        threads=8,
    )
    ledger = engine.run(accounts, config)

    while inbox_process_pending(limit=200):
        pass

    counts = ledger.counts()
    assert len(ledger.sent) >= 2000
    assert {record.kind for record in ledger.sent} == set(PUSH_KINDS)
    assert counts["duplicate"] + counts["concurrent_duplicate"] >= 0.25 * len(ledger.sent)
    assert counts["concurrent_duplicate"] >= 0.25 * (
        counts["duplicate"] + counts["concurrent_duplicate"]
    )
    assert counts["hostile"] >= 0.04 * len(ledger.sent)
    # Zero 5xx, zero unanswered; refused signatures 4xx, everything else 2xx.
    assert [r for r in ledger.sent if r.status == 0 or r.status >= 500] == []
    assert {r.status // 100 for r in ledger.sent if r.category == "bad_signature"} == {4}
    assert {r.status // 100 for r in ledger.sent if r.category != "bad_signature"} == {2}

    # Exactly the expected orders, each in its final status: none lost, none duplicated.
    actual = {
        (channel, external_id): status
        for channel, external_id, status in Order.objects.filter(
            channel__startswith=f"{PREFIX}-"
        ).values_list("channel", "external_id", "status")
    }
    assert Order.objects.filter(channel__startswith=f"{PREFIX}-").count() == len(actual)
    wrong = {
        key: (actual.get(key), want)
        for key, want in ledger.expected.items()
        if actual.get(key) != want
    }
    assert wrong == {}
    assert set(actual) == set(ledger.expected)

    # Every hostile delivery failed terminally with a reason; every bad signature quarantined.
    messages = InboundMessage.objects.filter(account__code__startswith=f"{PREFIX}-")
    assert (
        messages.filter(
            status__in=[InboxStatus.PENDING, InboxStatus.PROCESSING, InboxStatus.RETRY]
        ).count()
        == 0
    )
    failed = messages.filter(status=InboxStatus.FAILED_TERMINAL)
    assert failed.count() == counts["hostile"]
    assert failed.filter(reason="").count() == 0
    quarantined = QuarantinedDelivery.objects.filter(account_code__startswith=f"{PREFIX}-")
    assert quarantined.count() == counts["bad_signature"]
    assert quarantined.filter(reason="").count() == 0
