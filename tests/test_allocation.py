"""Offers, first-claim-wins claims, certificates, waves and lease release (orderhub.allocation)."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone, translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orderhub.allocation import certificates, services
from orderhub.allocation.trace import allocation_trace
from orderhub.choices import Milestone
from orderhub.models import (
    Allocation,
    Offer,
    Order,
    StockLevel,
    StockReservation,
    WarehouseRule,
    Wave,
)
from orderhub.services import order_transition
from tests.factories import OrderFactory, OrderLineFactory, WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_key(settings: Any) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.ALLOCATION_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.ALLOCATION_PUBLIC_KEYS_RETIRED = ""
    return key


@pytest.fixture
def warehouses() -> dict[str, Any]:
    return {
        "A": WarehouseFactory(code="WH-A"),
        "B": WarehouseFactory(code="WH-B", province="浙江省"),
        "C": WarehouseFactory(code="WH-C", is_active=False),
    }


def _stock_locked(**fields: Any) -> Order:
    order = OrderFactory.create(**fields)
    OrderLineFactory(order=order, line_no=1, sku="SKU-1", quantity=2)
    order_transition(order_id=order.pk, target=Milestone.PAID)
    order_transition(order_id=order.pk, target=Milestone.STOCK_LOCKED)
    order.refresh_from_db()
    return order


def _client_for(django_user_model: Any, name: str, *warehouses: Any, **extra: Any) -> APIClient:
    user = django_user_model.objects.create_user(name, **extra)
    for warehouse in warehouses:
        warehouse.staff.add(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _open_offers(order: Order) -> list[str]:
    return sorted(
        Offer.objects.filter(order=order, withdrawn_at__isnull=True).values_list(
            "warehouse__code", flat=True
        )
    )


def _actions(order: Order) -> list[str]:
    return list(
        LedgerEvent.objects.filter(order_id=order.pk)
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_stock_locked_order_is_offered_to_every_active_warehouse(warehouses: Any) -> None:
    order = _stock_locked()
    assert _open_offers(order) == ["WH-A", "WH-B"]
    offered = LedgerEvent.objects.get(order_id=order.pk, action="allocation.offered")
    assert offered.after == {"warehouses": ["WH-A", "WH-B"]}


def test_region_rule_and_stock_decide_eligibility(warehouses: Any) -> None:
    rule = WarehouseRule.objects.create(warehouse=warehouses["A"], provinces="上海市\uff0c江苏省")
    assert _open_offers(_stock_locked(province="浙江省")) == ["WH-B"]
    assert _open_offers(_stock_locked(province="江苏省")) == ["WH-A", "WH-B"]
    rule.provinces = ""
    rule.save()
    assert rule.history.count() == 2
    now = timezone.now()
    StockLevel.objects.create(warehouse=warehouses["A"], sku="SKU-1", on_hand=5, updated_at=now)
    StockLevel.objects.create(
        warehouse=warehouses["B"], sku="SKU-1", on_hand=3, reserved=2, updated_at=now
    )
    assert _open_offers(_stock_locked()) == ["WH-A"]


def test_orders_not_stock_locked_get_no_offers(warehouses: Any) -> None:
    order = OrderFactory.create()
    order_transition(order_id=order.pk, target=Milestone.PAID)
    assert Offer.objects.count() == 0
    assert services.offers_open(order_ids=[order.pk]) == 0


def test_first_claim_wins_and_the_others_get_the_winners_certificate(
    warehouses: Any, django_user_model: Any
) -> None:
    order = _stock_locked()
    client_a = _client_for(django_user_model, "wa", warehouses["A"])
    client_b = _client_for(django_user_model, "wb", warehouses["B"])

    won = client_a.post("/api/v1/warehouses/WH-A/claims/", {"order": order.pk}, format="json")
    assert won.status_code == 201
    assert won.json()["status"] == "won"
    certificate = won.json()["certificate"]
    values = certificates.certificate_verify(certificate)
    allocation = Allocation.objects.get(order=order)
    assert values == {
        "order": order.pk,
        "channel": order.channel,
        "external_id": order.external_id,
        "warehouse": "WH-A",
        "wave": 1,
        "claimed_at": allocation.claimed_at.astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
        "sequence": 1,
        "ledger_event": LedgerEvent.objects.get(order_id=order.pk, action="allocation.claimed").pk,
        "key_id": certificate["key_id"],
    }
    taken = client_b.post("/api/v1/warehouses/WH-B/claims/", {"order": order.pk}, format="json")
    assert (taken.status_code, taken.json()) == (
        409,
        {"status": "taken", "certificate": certificate},
    )
    again = client_a.post("/api/v1/warehouses/WH-A/claims/", {"order": order.pk}, format="json")
    assert (again.status_code, again.json()) == (200, won.json())

    order.refresh_from_db()
    assert (order.status, order.warehouse_id) == (Milestone.WAREHOUSE_ACCEPTED, warehouses["A"].pk)
    assert _open_offers(order) == []
    assert Allocation.objects.count() == 1
    assert _actions(order)[-4:] == [
        "order.warehouse_assigned",
        "order.transition",
        "allocation.claimed",
        "allocation.certificate_issued",
    ]
    assigned = LedgerEvent.objects.get(order_id=order.pk, action="order.warehouse_assigned")
    assert (assigned.before, assigned.after) == ({"warehouse": ""}, {"warehouse": "WH-A"})
    detail = client_a.get(f"/api/v1/orders/{order.pk}/").json()
    assert detail["warehouse"] == "WH-A"


def test_claims_are_scoped_to_the_users_warehouses(warehouses: Any, django_user_model: Any) -> None:
    order = _stock_locked()
    client_a = _client_for(django_user_model, "wa", warehouses["A"])
    assert (
        client_a.post(
            "/api/v1/warehouses/WH-B/claims/", {"order": order.pk}, format="json"
        ).status_code
        == 404
    )
    assert client_a.get("/api/v1/warehouses/WH-B/offers/").status_code == 404
    assert (
        client_a.post(
            "/api/v1/warehouses/WH-C/claims/", {"order": order.pk}, format="json"
        ).status_code
        == 404
    )
    assert Allocation.objects.count() == 0
    nobody = _client_for(django_user_model, "nobody")
    assert nobody.get("/api/v1/warehouses/WH-A/offers/").status_code == 404
    staff = _client_for(django_user_model, "ops")
    staff_user = django_user_model.objects.get(username="ops")
    staff_user.user_permissions.add(Permission.objects.get(codename="claim_any_warehouse"))
    answer = staff.post("/api/v1/warehouses/WH-B/claims/", {"order": order.pk}, format="json")
    assert (answer.status_code, answer.json()["status"]) == (201, "won")


def test_offers_list_shows_the_open_offers_of_the_warehouse(
    warehouses: Any, django_user_model: Any
) -> None:
    first, second = _stock_locked(), _stock_locked()
    client_a = _client_for(django_user_model, "wa", warehouses["A"])
    rows = client_a.get("/api/v1/warehouses/WH-A/offers/").json()["results"]
    assert [(row["order"], row["channel"], row["external_id"]) for row in rows] == [
        (first.pk, first.channel, first.external_id),
        (second.pk, second.channel, second.external_id),
    ]
    assert set(rows[0]) == {
        "order", "channel", "external_id", "offered_at", "province", "priority", "ship_by"
    }  # fmt: skip
    client_b = _client_for(django_user_model, "wb", warehouses["B"])
    client_b.post("/api/v1/warehouses/WH-B/claims/", {"order": first.pk}, format="json")
    rows = client_a.get("/api/v1/warehouses/WH-A/offers/").json()["results"]
    assert [row["order"] for row in rows] == [second.pk]


def test_a_claim_for_an_order_not_offered_is_refused_and_changes_nothing(
    warehouses: Any, django_user_model: Any
) -> None:
    order = OrderFactory.create()
    client_a = _client_for(django_user_model, "wa", warehouses["A"])
    answer = client_a.post("/api/v1/warehouses/WH-A/claims/", {"order": order.pk}, format="json")
    assert (answer.status_code, answer.json()["status"]) == (409, "not_offered")
    missing = client_a.post("/api/v1/warehouses/WH-A/claims/", {"order": 10**9}, format="json")
    assert missing.status_code == 404
    bad = client_a.post("/api/v1/warehouses/WH-A/claims/", {"order": "x"}, format="json")
    assert bad.status_code == 400
    assert Allocation.objects.count() == 0
    assert Wave.objects.count() == 0


def test_one_changed_byte_fails_verification(warehouses: Any) -> None:
    order = _stock_locked()
    result = services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    good = result.certificate.as_dict()
    certificates.certificate_verify(good)
    payload = good["payload"].replace('"WH-A"', '"WH-B"')
    with pytest.raises(certificates.CertificateInvalidError, match="does not match"):
        certificates.certificate_verify({**good, "payload": payload})
    raw = bytearray(base64.b64decode(good["signature"]))
    raw[0] ^= 1
    forged = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(certificates.CertificateInvalidError, match="does not match"):
        certificates.certificate_verify({**good, "signature": forged})
    with pytest.raises(certificates.CertificateInvalidError, match="unknown key"):
        certificates.certificate_verify({**good, "key_id": "0" * 16})


def test_rotation_keeps_old_certificates_verifiable(
    warehouses: Any, settings: Any, signing_key: Ed25519PrivateKey
) -> None:
    order = _stock_locked()
    old = services.allocation_claim(order_id=order.pk, warehouse_code="WH-A").certificate
    new_key = Ed25519PrivateKey.generate()
    settings.ALLOCATION_SIGNING_KEY = new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(certificates.CertificateInvalidError, match="unknown key"):
        certificates.certificate_verify(old.as_dict())
    settings.ALLOCATION_PUBLIC_KEYS_RETIRED = certificates.public_key_pem(signing_key.public_key())
    assert certificates.certificate_verify(old.as_dict())["warehouse"] == "WH-A"
    # The stored certificate is served as it was signed.
    again = services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    assert (again.status, again.certificate) == ("held", old)
    body = APIClient().get("/api/v1/allocations/public-key/").json()
    assert body["key_id"] == certificates.key_id(new_key.public_key())
    assert body["algorithm"] == "Ed25519"
    assert body["public_key_pem"] == certificates.public_key_pem(new_key.public_key())
    assert [entry["key_id"] for entry in body["retired"]] == [old.key_id]


def test_certificate_verify_command_exit_codes(warehouses: Any, tmp_path: Path) -> None:
    order = _stock_locked()
    certificate = services.allocation_claim(order_id=order.pk, warehouse_code="WH-A").certificate
    key_file = tmp_path / "key.pem"
    key_file.write_text(certificates.public_key_pem(certificates.current_public_key()))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"status": "won", "certificate": certificate.as_dict()}))
    bad.write_text(json.dumps({**certificate.as_dict(), "payload": certificate.payload + " "}))
    command = ["certificate_verify", "--public-key", str(key_file)]
    out, err = io.StringIO(), io.StringIO()
    call_command(*command, str(good), stdout=out, stderr=err)
    assert out.getvalue().startswith(f"valid: order {order.pk} ")
    with pytest.raises(SystemExit) as exited:
        call_command(*command, str(bad), stdout=out, stderr=err)
    assert exited.value.code == 1
    assert err.getvalue().strip() == "invalid: the signature does not match the payload"


def test_waves_close_after_n_orders(warehouses: Any, settings: Any) -> None:
    settings.ALLOCATION_WAVE_SIZE = 2
    orders = [_stock_locked() for _ in range(3)]
    for order in orders:
        services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    waves = list(Wave.objects.order_by("number").values_list("number", "size", "closed_at"))
    assert [(number, size, closed is not None) for number, size, closed in waves] == [
        (1, 2, True),
        (2, 1, False),
    ]
    assert list(Allocation.objects.order_by("order_id").values_list("wave__number", flat=True)) == [
        1,
        1,
        2,
    ]


def test_waves_close_after_m_minutes(warehouses: Any) -> None:
    first = _stock_locked()
    services.allocation_claim(order_id=first.pk, warehouse_code="WH-A")
    Wave.objects.update(opened_at=timezone.now() - timedelta(minutes=31))
    second = _stock_locked()
    result = services.allocation_claim(order_id=second.pk, warehouse_code="WH-A")
    assert json.loads(result.certificate.payload)["wave"] == 2
    assert Wave.objects.filter(closed_at__isnull=True).count() == 1


def test_a_silent_warehouse_loses_the_order_to_the_others(warehouses: Any) -> None:
    order = _stock_locked()
    services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    allocation = Allocation.objects.get(order=order)
    assert allocation.lease_until is not None
    assert (
        services.allocations_release_expired(now=allocation.lease_until - timedelta(seconds=1)) == 0
    )
    assert services.allocations_release_expired(now=allocation.lease_until) == 1
    order.refresh_from_db()
    assert (order.status, order.warehouse_id) == (Milestone.STOCK_LOCKED, None)
    assert _open_offers(order) == ["WH-B"]
    released = LedgerEvent.objects.get(order_id=order.pk, action="allocation.released")
    assert released.after == {"warehouse": "", "reason": "lease expired"}
    assert services.allocations_release_expired(now=allocation.lease_until) == 0

    second = services.allocation_claim(order_id=order.pk, warehouse_code="WH-B")
    assert second.status == "won"
    assert json.loads(second.certificate.payload)["sequence"] == 2
    late = services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    assert (late.status, late.certificate) == ("taken", second.certificate)
    with translation.override("en"):
        titles = [entry.title for entry in allocation_trace(order)]
    assert "Released from WH-A" in titles
    assert titles.count("Claimed by WH-A, certificate issued") == 1


def test_a_picked_order_is_never_released_or_offered_again(warehouses: Any) -> None:
    order = _stock_locked()
    services.allocation_claim(order_id=order.pk, warehouse_code="WH-A")
    order_transition(order_id=order.pk, target=Milestone.PICKED_PACKED)
    allocation = Allocation.objects.get(order=order)
    assert (allocation.lease_until, allocation.picked_at is not None) == (None, True)
    assert services.allocations_release_expired(now=timezone.now() + timedelta(days=30)) == 0
    assert services.offers_open(order_ids=[order.pk]) == 0
    assert Offer.objects.filter(order=order, withdrawn_at__isnull=True).count() == 0


def test_cancelling_withdraws_offers_and_ends_the_lock(warehouses: Any) -> None:
    waiting, held = _stock_locked(), _stock_locked()
    services.allocation_claim(order_id=held.pk, warehouse_code="WH-A")
    for order in (waiting, held):
        order_transition(order_id=order.pk, target=Milestone.CANCELLED)
    assert _open_offers(waiting) == []
    assert Allocation.objects.get(order=held).release_reason == "order ended"


def test_an_order_with_reserved_stock_is_offered_where_it_is_reserved(warehouses: Any) -> None:
    now = timezone.now()
    for code in ("A", "B"):
        StockLevel.objects.create(
            warehouse=warehouses[code], sku="SKU-1", on_hand=10, updated_at=now
        )
    order = OrderFactory.create()
    OrderLineFactory(order=order, line_no=1, sku="SKU-1", quantity=2)
    order_transition(order_id=order.pk, target=Milestone.PAID)
    StockReservation.objects.create(order=order, warehouse=warehouses["B"], sku="SKU-1", quantity=2)
    order_transition(order_id=order.pk, target=Milestone.STOCK_LOCKED)
    assert _open_offers(order) == ["WH-B"]
