"""The channels back office writes only through audited services: one ledger event, one
history row, no secret anywhere; built-in mappings listed and editable; write-back needs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone, translation

from channels_app.adapters.base import Verified, adapters
from channels_app.crypto import secrets_decrypt
from channels_app.models import (
    ChannelAccount,
    CredibilityRule,
    InboundMessage,
    MappingSource,
    OutboundCall,
    OutboxEntry,
    StatusMapping,
)
from channels_app.outbound.services import outbox_entries_for_transitions
from channels_app.services import (
    channel_account_create,
    channel_account_options_set,
    channel_account_set_enabled,
    credibility_rule_save,
    inbound_message_store,
    status_mapping_save,
    status_mappings_builtin_sync,
)
from channels_app.services.mapping import status_map_for_kind
from channels_app.tests.conftest import TEST_KIND, TEST_SECRET, HmacTestAdapter
from orderhub.hooks import OrderSnapshot, TransitionEvent
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

NEW_SECRET = "n3w-s3cret-value"
SHOP_TOKEN = "shpat_0123456789abcdef"


@pytest.fixture
def boss_client(client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def _events(*, subject_type: str) -> list[LedgerEvent]:
    return list(LedgerEvent.objects.filter(subject_type=subject_type).order_by("id"))


def _no_secret_in(*texts: str) -> None:
    for text in texts:
        assert TEST_SECRET not in text
        assert NEW_SECRET not in text
        assert SHOP_TOKEN not in text


def _dump(queryset: Any) -> str:
    return json.dumps(list(queryset.values()), default=str, ensure_ascii=False)


def _account_form(account: ChannelAccount, **changes: Any) -> dict[str, Any]:
    data = {
        "name": account.name,
        "enabled": "on" if account.enabled else "",
        "options": json.dumps(account.options),
        "needs_attention": "",
        "attention_reason": "",
        "new_secrets": "",
        "change_reason": "",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value != ""}


# --- Channel accounts ---


@pytest.mark.django_db
def test_admin_add_writes_one_event_and_one_history_row(
    boss_client: Client, test_adapter: type[HmacTestAdapter]
) -> None:
    response = boss_client.post(
        "/admin/channels_app/channelaccount/add/",
        {"kind": TEST_KIND, "code": "new-shop", "name": "New", "enabled": "on",
         "options": '{"region": "cn"}', "new_secrets": f"secret={TEST_SECRET}",
         "change_reason": "onboarding"},
    )  # fmt: skip
    assert response.status_code == 302
    account = ChannelAccount.objects.get(code="new-shop")
    assert secrets_decrypt(account.secrets_encrypted) == {"secret": TEST_SECRET}
    [event] = _events(subject_type="channel_account")
    assert (event.action, event.actor, event.subject_id) == (
        "channel.account_created",
        "boss",
        str(account.pk),
    )
    assert event.after == {
        "kind": TEST_KIND, "code": "new-shop", "name": "New", "enabled": True,
        "options": {"region": "cn"}, "secrets": ["secret"], "writeback": False,
    }  # fmt: skip
    assert event.references == {"reason": "onboarding"}
    [history] = account.history.all()
    assert (history.history_type, history.history_user.username) == ("+", "boss")
    assert history.history_change_reason == "onboarding"
    _no_secret_in(_dump(LedgerEvent.objects.all()), _dump(ChannelAccount.history.all()))


@pytest.mark.django_db
def test_admin_edit_writes_one_event_with_before_and_after_and_no_secret(
    boss_client: Client, account: ChannelAccount
) -> None:
    url = f"/admin/channels_app/channelaccount/{account.pk}/change/"
    response = boss_client.post(
        url,
        _account_form(
            account, name="Renamed", options='{"region": "eu"}',
            new_secrets=f"secret={NEW_SECRET}", change_reason="moved region",
        ),
    )  # fmt: skip
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.options) == ("Renamed", {"region": "eu"})
    assert secrets_decrypt(account.secrets_encrypted) == {"secret": NEW_SECRET}
    [created, updated] = _events(subject_type="channel_account")
    assert created.action == "channel.account_created"
    assert (updated.action, updated.actor) == ("channel.account_updated", "boss")
    assert updated.before == {"name": "test-shop", "options": {}, "secrets": ["secret"]}
    assert updated.after == {
        "name": "Renamed", "options": {"region": "eu"}, "secrets": ["secret"],
        "secrets_changed": ["secret"],
    }  # fmt: skip
    assert updated.references == {"reason": "moved region"}
    assert list(account.history.values_list("history_type", "name")) == [
        ("~", "Renamed"),
        ("+", "test-shop"),
    ]
    assert account.history.first().history_user.username == "boss"
    pages = [
        boss_client.get(url).content.decode(),
        boss_client.get(
            f"/admin/channels_app/channelaccount/{account.pk}/history/"
        ).content.decode(),
        boss_client.get("/admin/channels_app/channelaccount/").content.decode(),
    ]
    _no_secret_in(*pages, _dump(LedgerEvent.objects.all()), _dump(ChannelAccount.history.all()))
    assert "secret" in pages[0]  # the secret's name is shown, never its value


@pytest.mark.django_db
def test_saving_an_unchanged_account_writes_nothing(
    boss_client: Client, account: ChannelAccount
) -> None:
    response = boss_client.post(
        f"/admin/channels_app/channelaccount/{account.pk}/change/", _account_form(account)
    )
    assert response.status_code == 302
    assert [e.action for e in _events(subject_type="channel_account")] == [
        "channel.account_created"
    ]
    assert account.history.count() == 1


@pytest.mark.django_db
def test_a_rejected_secret_is_not_rendered_back(
    boss_client: Client, account: ChannelAccount
) -> None:
    response = boss_client.post(
        f"/admin/channels_app/channelaccount/{account.pk}/change/",
        _account_form(account, new_secrets=f"colour={NEW_SECRET}"),
    )
    assert response.status_code == 200
    assert b"test_hmac takes no secret &#x27;colour&#x27;" in response.content
    _no_secret_in(response.content.decode())
    assert len(_events(subject_type="channel_account")) == 1


@pytest.mark.django_db
def test_disable_enable_and_rekey_actions_each_write_one_event(
    boss_client: Client, account: ChannelAccount
) -> None:
    changelist = "/admin/channels_app/channelaccount/"
    ciphertext = account.secrets_encrypted
    for action in ("disable_accounts", "disable_accounts", "enable_accounts", "rekey_accounts"):
        response = boss_client.post(
            changelist, {"action": action, "_selected_action": [account.pk]}
        )
        assert response.status_code == 302
    events = _events(subject_type="channel_account")[1:]
    assert [(e.action, e.actor, e.before, e.after) for e in events] == [
        ("channel.account_disabled", "boss", {"enabled": True}, {"enabled": False}),
        ("channel.account_enabled", "boss", {"enabled": False}, {"enabled": True}),
        ("channel.secrets_rekeyed", "boss", {"secrets": ["secret"]},
         {"secrets": ["secret"], "secrets_changed": []}),
    ]  # fmt: skip
    account.refresh_from_db()
    assert account.enabled is True
    assert account.secrets_encrypted != ciphertext  # a fresh token (new IV), same values
    assert secrets_decrypt(account.secrets_encrypted) == {"secret": TEST_SECRET}
    assert list(account.history.values_list("history_type", "enabled")) == [
        ("~", True), ("~", True), ("~", False), ("+", True),
    ]  # fmt: skip
    _no_secret_in(_dump(LedgerEvent.objects.all()), _dump(ChannelAccount.history.all()))


@pytest.mark.django_db
def test_options_set_and_set_enabled_services(account: ChannelAccount) -> None:
    channel_account_options_set(account_id=account.pk, options={"region": "us"}, reason="r1")
    channel_account_options_set(account_id=account.pk, options={"region": "us"})  # no change
    with pytest.raises(ValidationError, match="takes no option 'colour'"):
        channel_account_options_set(account_id=account.pk, options={"colour": "red"})
    channel_account_set_enabled(account_id=account.pk, enabled=True)  # already enabled
    events = _events(subject_type="channel_account")[1:]
    assert [(e.action, e.actor, e.before, e.after, e.references) for e in events] == [
        ("channel.options_changed", "admin", {"options": {}}, {"options": {"region": "us"}},
         {"reason": "r1"}),
    ]  # fmt: skip
    assert account.history.count() == 2


# --- Write-back requirements ---


def _shopify(code: str, **options: str) -> ChannelAccount:
    return channel_account_create(
        kind="shopify",
        code=code,
        options=dict(options),
        secrets={"webhook_secret": "whsec", "access_token": SHOP_TOKEN},
    )


@pytest.mark.django_db
def test_shopify_without_shop_domain_is_refused_with_how_to_turn_write_back_off() -> None:
    with pytest.raises(ValidationError) as refused:
        channel_account_create(
            kind="shopify", code="shop-x", options={}, secrets={"webhook_secret": "whsec"}
        )
    assert refused.value.messages == [
        "shopify write-back needs option 'shop_domain' or 'base_url'; set it, or turn "
        "write-back off with the option writeback=off (channel_add --option writeback=off)",
        "shopify write-back needs secret 'access_token'; set it, or turn write-back off with "
        "the option writeback=off (channel_add --option writeback=off)",
    ]
    with pytest.raises(ValidationError, match="'writeback' must be 'on' or 'off'"):
        _shopify("shop-y", shop_domain="y.myshopify.com", writeback="maybe")
    assert not ChannelAccount.objects.exists()
    assert not LedgerEvent.objects.filter(subject_type="channel_account").exists()


@pytest.mark.django_db
def test_channel_add_shows_the_refusal() -> None:
    with pytest.raises(CommandError, match=r"shopify write-back needs option 'shop_domain'"):
        call_command(
            "channel_add",
            "--kind",
            "shopify",
            "--code",
            "shop-z",
            "--secret",
            "webhook_secret=whsec",
        )
    call_command(
        "channel_add", "--kind", "shopify", "--code", "shop-z", "--secret", "webhook_secret=whsec",
        "--option", "writeback=off",
    )  # fmt: skip
    assert ChannelAccount.objects.get().options == {"writeback": "off"}


@pytest.mark.django_db
def test_write_back_off_account_gets_no_outbox_entry() -> None:
    def _snapshot(order: Any) -> OrderSnapshot:
        return OrderSnapshot(
            id=order.pk, channel=order.channel, external_id=order.external_id,
            status="waybill_issued", warehouse_id=None, warehouse_code="", carrier=order.carrier,
            tracking_number=order.tracking_number, priority=order.priority,
            order_type=order.order_type, placed_at=order.placed_at, paid_at=order.paid_at,
            ship_by=order.ship_by, shipped_at=None, delivered_at=None, status_changed_at=None,
        )  # fmt: skip

    off = channel_account_create(
        kind="shopify", code="shop-off", options={"writeback": "off"},
        secrets={"webhook_secret": "whsec"},
    )  # fmt: skip
    on = _shopify("shop-on", shop_domain="on.myshopify.com")
    [event] = LedgerEvent.objects.filter(subject_id=str(off.pk), subject_type="channel_account")
    assert event.after["writeback"] is False
    orders = [
        OrderFactory.create(channel=code, tracking_number="SF100", carrier="sf")
        for code in ("shop-off", "shop-on")
    ]
    created = outbox_entries_for_transitions(
        [TransitionEvent(order=_snapshot(o), before="picked_packed", after="waybill_issued",
                         source="wms:x") for o in orders]
    )  # fmt: skip
    assert len(created) == 1
    assert list(OutboxEntry.objects.values_list("account__code", "order__channel")) == [
        (on.code, "shop-on")
    ]


@pytest.mark.django_db
def test_removing_what_write_back_needs_later_is_refused() -> None:
    account = _shopify("shop-1", shop_domain="one.myshopify.com")
    with pytest.raises(ValidationError, match="needs option 'shop_domain' or 'base_url'"):
        channel_account_options_set(account_id=account.pk, options={})
    channel_account_options_set(account_id=account.pk, options={"writeback": "off"})
    account.refresh_from_db()
    assert account.options == {"writeback": "off"}


# --- Status mappings ---


# Every kind the project ships (each has default mappings).
ADAPTER_KINDS = (
    "shopify", "woocommerce", "douyin", "youzan", "wechat_pay", "dingtalk", "webform",
    "amazon", "pinduoduo", "kingdee_k3", "kuaidi100", "track17", "aftership", "wms", "erp", "tms",
)  # fmt: skip


def _builtin_count() -> dict[str, int]:
    return {kind: len(adapters.get(kind).default_status_map) for kind in adapters}


@pytest.mark.django_db
def test_mappings_changelist_lists_the_built_in_rows_of_every_kind(boss_client: Client) -> None:
    assert status_mappings_builtin_sync() == 0  # done by migrate already; idempotent
    expected = _builtin_count()
    assert sorted(expected) == sorted(ADAPTER_KINDS)
    assert all(count > 0 for count in expected.values())
    response = boss_client.get("/admin/channels_app/statusmapping/")
    assert response.context["cl"].result_count == sum(expected.values())
    for kind, count in expected.items():
        page = boss_client.get(f"/admin/channels_app/statusmapping/?kind={kind}&source=builtin")
        assert page.context["cl"].result_count == count, kind
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        builtin = translation.gettext("Built-in default")
    assert response.content.decode().count(builtin) >= 1


@pytest.mark.django_db
def test_editing_a_built_in_row_overrides_the_default_with_event_and_history(
    boss_client: Client,
) -> None:
    row = StatusMapping.objects.get(kind="shopify", raw_status="shipment_status:in_transit")
    assert (row.milestone, row.source) == ("collected", MappingSource.BUILTIN)
    assert status_map_for_kind(kind="shopify")["shipment_status:in_transit"] == "collected"
    response = boss_client.post(
        f"/admin/channels_app/statusmapping/{row.pk}/change/",
        {"milestone": "handed_over", "note": "our carrier", "change_reason": "audit 7"},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.milestone, row.source, row.note) == ("handed_over", "override", "our carrier")
    assert status_map_for_kind(kind="shopify")["shipment_status:in_transit"] == "handed_over"
    [event] = _events(subject_type="status_mapping")
    assert (event.action, event.actor, event.subject_id) == ("mapping.saved", "boss", str(row.pk))
    base = {"kind": "shopify", "raw_status": "shipment_status:in_transit"}
    assert event.before == {**base, "milestone": "collected", "note": "", "source": "builtin"}
    assert event.after == {
        **base, "milestone": "handed_over", "note": "our carrier", "source": "override"
    }  # fmt: skip
    assert event.references == {"reason": "audit 7"}
    latest = row.history.first()
    assert latest is not None
    assert (latest.history_type, latest.history_user.username, latest.milestone) == (
        "~",
        "boss",
        "handed_over",
    )
    assert status_mappings_builtin_sync() == 0  # the sync never touches an override

    # Deleting the override brings the default back (the row stays, built-in again).
    response = boss_client.post(
        f"/admin/channels_app/statusmapping/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.milestone, row.source) == ("collected", "builtin")
    assert status_map_for_kind(kind="shopify")["shipment_status:in_transit"] == "collected"
    [_saved, deleted] = _events(subject_type="status_mapping")
    assert (deleted.action, deleted.before["milestone"], deleted.after["milestone"]) == (
        "mapping.deleted",
        "handed_over",
        "collected",
    )
    assert boss_client.get(f"/admin/channels_app/statusmapping/{row.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_deleting_a_new_mapping_removes_it(
    boss_client: Client, test_adapter: type[HmacTestAdapter]
) -> None:
    row, applied = status_mapping_save(kind=TEST_KIND, raw_status="ODD", milestone="paid")
    assert applied == 0
    response = boss_client.post(
        f"/admin/channels_app/statusmapping/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not StatusMapping.objects.filter(kind=TEST_KIND).exists()
    assert [(e.action, e.after) for e in _events(subject_type="status_mapping")] == [
        ("mapping.saved", {"kind": TEST_KIND, "raw_status": "ODD", "milestone": "paid",
                           "note": "", "source": "override"}),
        ("mapping.deleted", {}),
    ]  # fmt: skip
    assert list(StatusMapping.history.filter(id=row.pk).values_list("history_type", flat=True)) == [
        "-",
        "+",
    ]


@pytest.mark.django_db
def test_an_unknown_kind_or_milestone_is_refused(boss_client: Client) -> None:
    before = StatusMapping.objects.count()
    response = boss_client.post(
        "/admin/channels_app/statusmapping/add/",
        {"kind": "nope", "raw_status": "X", "milestone": "paid"},
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["kind"]
    with pytest.raises(ValidationError, match="unknown channel kind 'nope'"):
        status_mapping_save(kind="nope", raw_status="X", milestone="paid")
    with pytest.raises(ValidationError, match="unknown milestone 'shipped'"):
        status_mapping_save(kind="shopify", raw_status="X", milestone="shipped")
    assert StatusMapping.objects.count() == before
    assert not LedgerEvent.objects.exists()


@pytest.mark.django_db
def test_builtin_sync_follows_the_code_and_keeps_overrides(
    test_adapter: type[HmacTestAdapter],
) -> None:
    assert status_mappings_builtin_sync() == 3  # the test kind's three defaults
    status_mapping_save(kind=TEST_KIND, raw_status="PAID", milestone="placed")
    StatusMapping.objects.filter(kind=TEST_KIND, raw_status="CREATED").update(milestone="")
    assert status_mappings_builtin_sync() == 1  # the drifted built-in row follows the code
    rows = StatusMapping.objects.filter(kind=TEST_KIND).order_by("raw_status")
    assert list(rows.values_list("raw_status", "milestone", "source")) == [
        ("CREATED", "placed", "builtin"),
        ("PAID", "placed", "override"),
        ("SHIPPED", "handed_over", "builtin"),
    ]
    adapters._entries.pop(TEST_KIND)
    try:
        assert status_mappings_builtin_sync() == 2  # kind gone: its built-in rows go
    finally:
        adapters.add(TEST_KIND, test_adapter)
    assert list(StatusMapping.objects.filter(kind=TEST_KIND).values_list("source", flat=True)) == [
        "override"
    ]


# --- Credibility rules ---


@pytest.mark.django_db
def test_credibility_rule_add_change_delete_in_the_admin(boss_client: Client) -> None:
    response = boss_client.post(
        "/admin/channels_app/credibilityrule/add/",
        {"name": "bursts", "kind": "burst", "channel_kind": "shopify", "enabled": "on",
         "action": "quarantine", "params": '{"max_orders": 5, "window_seconds": 60}',
         "change_reason": "bot wave"},
    )  # fmt: skip
    assert response.status_code == 302
    rule = CredibilityRule.objects.get()
    response = boss_client.post(
        f"/admin/channels_app/credibilityrule/{rule.pk}/change/",
        {"name": "bursts", "kind": "burst", "channel_kind": "", "action": "quarantine",
         "params": '{"max_orders": 9, "window_seconds": 60}'},
    )  # fmt: skip
    assert response.status_code == 302
    response = boss_client.post(
        f"/admin/channels_app/credibilityrule/{rule.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not CredibilityRule.objects.exists()
    values = {
        "name": "bursts", "kind": "burst", "channel_kind": "shopify", "enabled": True,
        "action": "quarantine", "params": {"max_orders": 5, "window_seconds": 60},
    }  # fmt: skip
    changed = {**values, "channel_kind": "", "enabled": False,
               "params": {"max_orders": 9, "window_seconds": 60}}  # fmt: skip
    events = _events(subject_type="credibility_rule")
    assert [(e.action, e.actor, e.before, e.after, e.references) for e in events] == [
        ("credibility.rule_saved", "boss", {}, values, {"reason": "bot wave"}),
        ("credibility.rule_saved", "boss", values, changed, {"reason": ""}),
        ("credibility.rule_deleted", "boss", changed, {}, {"reason": ""}),
    ]
    history = CredibilityRule.history.filter(id=rule.pk)
    assert list(history.values_list("history_type", "history_user__username")) == [
        ("-", "boss"), ("~", "boss"), ("+", "boss"),
    ]  # fmt: skip


@pytest.mark.django_db
def test_credibility_rule_with_bad_parameters_is_refused(boss_client: Client) -> None:
    response = boss_client.post(
        "/admin/channels_app/credibilityrule/add/",
        {"name": "fake", "kind": "fake_buyer", "channel_kind": "", "action": "quarantine",
         "params": '{"phones": "13800138000"}'},
    )  # fmt: skip
    assert response.status_code == 200
    assert b"parameter &#x27;phones&#x27; must be a list of strings" in response.content
    with pytest.raises(ValidationError, match="unknown channel kind 'nope'"):
        credibility_rule_save(name="t", kind="test_flag", channel_kind="nope")
    assert not CredibilityRule.objects.exists()
    assert not LedgerEvent.objects.exists()


# --- Warehouse scope ---


def _warehouse_user(username: str, warehouse: Any) -> Client:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    codenames = ["view_order", "view_inboundmessage", "view_outboxentry", "view_outboundcall",
                 "view_channelaccount", "change_channelaccount", "view_statusmapping",
                 "view_pollstate", "view_quarantineddelivery"]  # fmt: skip
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    warehouse.staff.add(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_warehouse_staff_see_the_channel_records_of_their_orders_only(
    account: ChannelAccount,
) -> None:
    shanghai, guangzhou = WarehouseFactory.create(code="SH"), WarehouseFactory.create(code="GZ")
    mine = OrderFactory.create(channel=account.code, external_id="MINE", warehouse=shanghai)
    theirs = OrderFactory.create(channel=account.code, external_id="THEIRS", warehouse=guangzhou)
    messages = {}
    for label, order_ids in {"mine": [mine.pk], "theirs": [theirs.pk],
                             "both": [mine.pk, theirs.pk], "none": []}.items():  # fmt: skip
        body = label.encode()
        message_id = inbound_message_store(
            account=account, verified=Verified("", "order", body, None),  # type: ignore[arg-type]
            body=body, headers={}, received_at=timezone.now(),
        )[0]  # fmt: skip
        messages[label] = message_id
        InboundMessage.objects.filter(pk=message_id).update(order_ids=order_ids)
    for order in (mine, theirs):
        entry = OutboxEntry.objects.create(
            account=account, order=order, action="ship_confirm", milestone="waybill_issued",
            idempotency_key=f"k-{order.pk}", next_attempt_at=timezone.now(),
        )  # fmt: skip
        OutboundCall.objects.create(
            outbox=entry, account=account, order_id_ref=order.pk, operation="op", method="POST",
            url="https://x", started_at=timezone.now(),
        )  # fmt: skip
    client = _warehouse_user("wh-sh", shanghai)

    inbox = client.get("/admin/channels_app/inboundmessage/")
    assert [m.pk for m in inbox.context["cl"].result_list] == [messages["mine"]]
    outbox = client.get("/admin/channels_app/outboxentry/")
    assert [e.order_id for e in outbox.context["cl"].result_list] == [mine.pk]
    calls = client.get("/admin/channels_app/outboundcall/")
    assert [c.order_id_ref for c in calls.context["cl"].result_list] == [mine.pk]
    theirs_entry = OutboxEntry.objects.get(order=theirs)
    assert client.get(f"/admin/channels_app/outboxentry/{theirs_entry.pk}/change/").status_code in (
        302,
        404,
    )
    for url in ["/admin/channels_app/channelaccount/",
                f"/admin/channels_app/channelaccount/{account.pk}/change/",
                "/admin/channels_app/statusmapping/", "/admin/channels_app/pollstate/",
                "/admin/channels_app/quarantineddelivery/"]:  # fmt: skip
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_outbound_call_bodies_are_shown_with_secrets_masked(
    boss_client: Client, account: ChannelAccount
) -> None:
    call = OutboundCall.objects.create(
        account=account, operation="lwa.token", method="POST", url="https://x/token",
        request_body=f"grant_type=refresh_token&refresh_token={TEST_SECRET}&client_id=c1",
        response_body='{"access_token": "Atza|fresh-token", "expires_in": 3600}',
        started_at=timezone.now(),
    )  # fmt: skip
    page = boss_client.get(f"/admin/channels_app/outboundcall/{call.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert TEST_SECRET not in text
    assert "Atza|fresh-token" not in text
    assert "client_id=c1" in text
    assert "&quot;expires_in&quot;: 3600" in text


@pytest.mark.django_db
def test_admin_add_shows_the_write_back_refusal_and_writes_nothing(boss_client: Client) -> None:
    response = boss_client.post(
        "/admin/channels_app/channelaccount/add/",
        {"kind": "shopify", "code": "shop-a", "enabled": "on", "options": "",
         "new_secrets": f"webhook_secret=whsec\naccess_token={SHOP_TOKEN}"},
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert list(errors) == [
        "shopify write-back needs option 'shop_domain' or 'base_url'; set it, or turn "
        "write-back off with the option writeback=off (channel_add --option writeback=off)"
    ]
    _no_secret_in(response.content.decode())
    assert not ChannelAccount.objects.exists()
    assert not LedgerEvent.objects.exists()


@pytest.mark.django_db
def test_the_admin_login_page_renders_for_an_anonymous_visitor(client: Client) -> None:
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/admin/channels_app/statusmapping/").status_code == 302
