"""The trace page, the trace command and the PDF report, on real data."""

from __future__ import annotations

import io
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from health.models import Anomaly, RuleSetting
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.models import Order, Warehouse
from orderhub.services import order_upsert, status_fact_record
from traceability.models import LedgerEvent
from traceability.selectors import order_trace
from traceability.services import ledger_append, ledger_seal_and_checkpoint

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Canary:
    """An HTTP server on 127.0.0.1 that counts every request it gets."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.server.shutdown()


def fact(system: str, raw: str, milestone: str | None, minutes: int) -> StatusFactIn:
    return StatusFactIn(
        system=system,
        raw_status=raw,
        milestone=milestone,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def build_order(*, note: str = "", address: str = "文三路 100 号", extra_events: int = 0) -> Order:
    # A fixed set of ledger events: the rules stay out; the one anomaly is written below.
    RuleSetting.objects.update(enabled=False)
    order = order_upsert(
        normalized=NormalizedOrder(
            channel="tmall-flagship",
            external_id="TM-20260301-0001",
            buyer_name="王小明",
            receiver_name="王小明",
            receiver_phone="13912345678",
            province="浙江省",
            city="杭州市",
            address=address,
            buyer_note=note,
            carrier="SF",
            tracking_number="SF1234567890",
            total_amount=Decimal("299.00"),
            placed_at=T0,
            lines=(
                NormalizedLine(
                    line_no=1,
                    sku="SKU-TEA",
                    quantity=1,
                    unit_price=Decimal("299.00"),
                    title="龙井茶",
                ),
            ),
            facts=(fact("tmall:flagship", "WAIT_SELLER_SEND_GOODS", Milestone.PAID, 1),),
        ),
        source="tmall:flagship",
    )
    status_fact_record(
        order_id=order.pk, fact=fact("erp:kingdee", "已审核", Milestone.STOCK_LOCKED, 2)
    )
    status_fact_record(
        order_id=order.pk, fact=fact("wms:WH-HZ", "PACKED", Milestone.PICKED_PACKED, 5)
    )
    evidence = {"wms": "PACKED", "tmall": "WAIT_SELLER_SEND_GOODS"}
    anomaly = Anomaly.objects.create(
        kind="sync_lag", order=order, subject_key=f"order:{order.pk}", opened_at=timezone.now(),
        evidence_at=timezone.now(), evidence=evidence,
    )  # fmt: skip
    ledger_append(
        action="anomaly.opened",
        actor="health",
        order_id=order.pk,
        subject_type="anomaly",
        subject_id=anomaly.pk,
        source_system="health",
        after={"kind": "sync_lag"},
        references={"evidence": {"wms": "PACKED", "tmall": "WAIT_SELLER_SEND_GOODS"}},
    )
    status_fact_record(order_id=order.pk, fact=fact("courier:SF", "已揽收", Milestone.COLLECTED, 9))
    Anomaly.objects.filter(pk=anomaly.pk).update(resolved_at=timezone.now(), resolution="auto")
    ledger_append(
        action="anomaly.resolved",
        actor="health",
        order_id=order.pk,
        subject_type="anomaly",
        subject_id=anomaly.pk,
        source_system="health",
        after={"resolved_by": "auto"},
    )
    for number in range(extra_events):
        ledger_append(
            action="outbound.call",
            actor="orderhub",
            order_id=order.pk,
            subject_type="outbound",
            subject_id=number,
            source_system="tmall:flagship",
            after={"status": 200, "response": f"回传成功 {number}"},
            references={"request": {"tracking": "SF1234567890", "note": note[:40]}},
        )
    ledger_seal_and_checkpoint(force_checkpoint=True)
    return order


@pytest.mark.django_db
def test_trace_merges_ledger_facts_and_history_in_time_order() -> None:
    order = build_order()
    trace = order_trace(order=order)
    assert trace.sources == (
        "channels.inbound", "channels.outbound", "channels.tracking", "facts", "health.anomalies",
        "history", "ledger", "orderhub.allocation",
    )  # fmt: skip
    kinds = [entry.kind for entry in trace.entries]
    assert kinds.count("fact") == 4
    assert kinds.count("ledger") == LedgerEvent.objects.filter(order_id=order.pk).count() == 14
    assert kinds.count("history") == order.history.count()
    assert [entry.at for entry in trace.entries] == sorted(entry.at for entry in trace.entries)
    facts = [(e.source_system, e.title) for e in trace.entries if e.kind == "fact"]
    assert facts[0] == ("tmall:flagship", f"WAIT_SELLER_SEND_GOODS → {Milestone.PAID.label}")
    assert [(a.kind, a.resolved_by) for a in trace.anomalies] == [("sync_lag", "auto")]
    assert trace.anomalies[0].recovery_seconds is not None
    assert trace.ledger.event_count == trace.ledger.sealed_count == 14
    assert trace.ledger.checkpoint is not None
    assert trace.ledger.checkpoint.seq == trace.ledger.last_seq == 14


@pytest.mark.django_db
def test_trace_command_prints_the_timeline() -> None:
    order = build_order()
    out = io.StringIO()
    call_command("trace", "SF1234567890", stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0] == f"#{order.pk} tmall-flagship:TM-20260301-0001 [collected]"
    assert "courier:SF" in text
    assert text.splitlines()[-1] == "ledger: 14 events, seq 1-14, checkpoint 14"


@pytest.mark.django_db
def test_trace_page_finds_the_order_by_any_identifier(
    client: Client, django_assert_max_num_queries: object
) -> None:
    order = build_order()
    admin = User.objects.create_superuser("boss", password="x")
    client.force_login(admin)
    detail = reverse("traceability:trace_detail", args=[order.pk])
    for reference in [str(order.pk), "TM-20260301-0001", "SF1234567890", "5678"]:
        response = client.get(reverse("traceability:trace_search"), {"q": reference})
        assert (response.status_code, response["Location"]) == (302, detail)
    page = client.get(detail)
    assert page.status_code == 200
    assert "王小明" in page.content.decode()
    none = client.get(reverse("traceability:trace_search"), {"q": "NOPE-1"})
    assert none.status_code == 200
    assert none.context["orders"] == []


@pytest.mark.django_db
def test_trace_page_is_scoped_to_the_users_warehouses(client: Client) -> None:
    order = build_order()
    user = User.objects.create_user("picker", password="x")
    warehouse = Warehouse.objects.create(code="WH-SH", name="上海仓")
    warehouse.staff.add(user)
    client.force_login(user)
    assert client.get(reverse("traceability:trace_detail", args=[order.pk])).status_code == 404
    assert client.get(reverse("traceability:trace_pdf", args=[order.pk])).status_code == 404
    assert LedgerEvent.objects.filter(action="trace.exported").count() == 0
    client.logout()
    anonymous = client.get(reverse("traceability:trace_detail", args=[order.pk]))
    assert anonymous.status_code == 302


@pytest.mark.django_db
def test_pdf_download_is_recorded_in_the_ledger(client: Client) -> None:
    order = build_order()
    client.force_login(User.objects.create_superuser("auditor", password="x"))
    response = client.get(reverse("traceability:trace_pdf", args=[order.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    event = LedgerEvent.objects.get(action="trace.exported")
    assert (event.actor, event.order_id, event.after["bytes"]) == (
        "auditor", order.pk, len(response.content),
    )  # fmt: skip


def test_public_key_is_published(client: Client) -> None:
    response = client.get(reverse("traceability:ledger_public_key"))
    assert response.status_code == 200
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    out = io.StringIO()
    call_command("ledger_verify", "--public-key", stdout=out)
    assert out.getvalue().encode() == response.content


@pytest.mark.django_db
def test_pdf_of_a_200_event_order_has_chinese_text_sections_and_font(tmp_path: Path) -> None:
    order = build_order(extra_events=186)
    assert LedgerEvent.objects.filter(order_id=order.pk).count() == 200
    target = tmp_path / "trace.pdf"
    out = io.StringIO()
    call_command("trace", order.external_id, "--pdf", str(target), "--language", "en", stdout=out)
    text = subprocess.run(
        ["pdftotext", "-layout", str(target), "-"], capture_output=True, check=True, text=True
    ).stdout
    for expected in [
        "Order trace report", "王小明", "回传成功 185",
        "Each system's current status", "已审核", "Anomalies and recovery", "Sync lag",
        "Timeline", "ISO 9001:2015 clause index", "8.5.2", "Identification and traceability",
        "10.2", "Ledger integrity", "signed checkpoint", "Page 1 / ", "Generated",
    ]:  # fmt: skip
        assert expected in text, expected
    pages = int(text.count("\f"))
    assert pages >= 5
    assert f"Page {pages} / {pages}" in text
    fonts = subprocess.run(["pdffonts", str(target)], capture_output=True, check=True, text=True)
    assert "WenQuanYi" in fonts.stdout


@pytest.mark.django_db
def test_hostile_order_data_renders_as_text_and_fetches_nothing(
    tmp_path: Path, canary: Canary
) -> None:
    note = (
        f'<img src="file:///etc/passwd"><img src="{canary.url}/img.png">'
        f'<link rel="stylesheet" href="{canary.url}/x.css"> {canary.url}/plain'
    )
    address = (
        f"</dd><style>@import url({canary.url}/import.css); "
        "body { background: url(file:///etc/passwd) }</style>"
    )
    order = build_order(note=note, address=address, extra_events=3)
    target = tmp_path / "hostile.pdf"
    call_command(
        "trace", str(order.pk), "--pdf", str(target), "--language", "en", stdout=io.StringIO()
    )
    text = subprocess.run(
        ["pdftotext", str(target), "-"], capture_output=True, check=True, text=True
    ).stdout
    flat = " ".join(text.split())
    assert '<img src="file:///etc/passwd">' in flat
    assert "@import url(" in flat
    assert "root:x:0:0" not in text
    assert canary.hits == []
    fonts = subprocess.run(["pdfimages", "-list", str(target)], capture_output=True, text=True)
    assert len(fonts.stdout.strip().splitlines()) == 2  # header lines only: no image embedded
