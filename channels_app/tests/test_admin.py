from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.adapters.base import Verified
from channels_app.models import ChannelAccount, InboundMessage, StatusMapping
from channels_app.services import inbound_message_store, inbox_process_pending
from channels_app.tests.conftest import TEST_SECRET, order_body
from orderhub.models import Order


@pytest.fixture
def staff_client(client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def _store(account: ChannelAccount, body: bytes) -> int:
    verified = Verified("", "order", body, None)  # type: ignore[arg-type]
    return inbound_message_store(
        account=account, verified=verified, body=body, headers={}, received_at=timezone.now()
    )[0]


@pytest.mark.django_db
def test_admin_pages_render_and_never_show_secrets(
    staff_client: Client, account: ChannelAccount
) -> None:
    message_id = _store(account, b'{"orders": "bad"}')
    inbox_process_pending()
    for url in [
        "/admin/channels_app/channelaccount/",
        f"/admin/channels_app/channelaccount/{account.pk}/change/",
        "/admin/channels_app/inboundmessage/?status__exact=failed_terminal",
        f"/admin/channels_app/inboundmessage/{message_id}/change/",
        "/admin/channels_app/quarantineddelivery/",
        "/admin/channels_app/statusmapping/",
        "/admin/channels_app/statusmapping/unmapped/",
        "/admin/channels_app/credibilityrule/",
    ]:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert TEST_SECRET.encode() not in response.content
    detail = staff_client.get(f"/admin/channels_app/inboundmessage/{message_id}/change/")
    assert b"cannot normalize: NormalizeError: orders missing" in detail.content


@pytest.mark.django_db
def test_process_again_action_requeues(staff_client: Client, account: ChannelAccount) -> None:
    body = order_body({"id": "A1", "status": "ODD", "at": "2026-05-01T10:00:00+08:00"})
    message_id = _store(account, body)
    InboundMessage.objects.filter(pk=message_id).update(status="failed_terminal", reason="x")
    response = staff_client.post(
        "/admin/channels_app/inboundmessage/",
        {"action": "process_again", "_selected_action": [message_id]},
    )
    assert response.status_code == 302
    assert InboundMessage.objects.get().status == "pending"
    inbox_process_pending()
    assert InboundMessage.objects.get().status == "processed"
    unmapped = staff_client.get("/admin/channels_app/statusmapping/unmapped/")
    assert b"<code>ODD</code>" in unmapped.content


@pytest.mark.django_db
def test_saving_a_mapping_in_the_admin_applies_waiting_facts(
    staff_client: Client, account: ChannelAccount
) -> None:
    _store(account, order_body({"id": "A1", "status": "ODD", "at": "2026-05-01T10:00:00+08:00"}))
    inbox_process_pending()
    response = staff_client.post(
        "/admin/channels_app/statusmapping/add/",
        {"kind": "test_hmac", "raw_status": "ODD", "milestone": "paid", "note": ""},
    )
    assert response.status_code == 302
    assert StatusMapping.objects.get(kind="test_hmac", raw_status="ODD").milestone == "paid"
    assert Order.objects.get().status == "paid"
