"""`make demo` run again, the same day or later, adds nothing; its logins live in VAR_DIR."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from orderhub.demo import demo_external_id, demo_load
from orderhub.models import Order


@pytest.mark.django_db
def test_demo_load_again_today_and_a_day_later_creates_no_orders() -> None:
    now = timezone.now()
    first = demo_load(orders=24, now=now)
    assert (first.orders_created, first.orders_total) == (24, 24)
    ids = set(Order.objects.values_list("channel", "external_id"))
    assert ("douyin-flagship", "DY2611250001") in ids
    again = demo_load(orders=24, now=now + timedelta(minutes=5))
    later = demo_load(orders=24, now=now + timedelta(days=1))
    assert (again.orders_created, again.orders_total) == (0, 24)
    assert (later.orders_created, later.orders_total) == (0, 24)
    assert set(Order.objects.values_list("channel", "external_id")) == ids


def test_demo_order_ids_come_from_the_seed_and_a_counter() -> None:
    assert demo_external_id(kind="douyin", seed=20261125, number=1) == "DY2611250001"
    assert demo_external_id(kind="pinduoduo", seed=7, number=12) == "PD0000070012"


@pytest.mark.django_db
def test_demo_logins_are_kept_under_the_var_dir(tmp_path: Path, settings: Any) -> None:
    settings.VAR_DIR = tmp_path / "var"
    call_command("demo_data", "--orders", "6", stdout=StringIO())
    path = tmp_path / "var" / "demo-logins.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    stored = dict(line.split(" ", 1) for line in path.read_text().splitlines())
    assert sorted(stored) == ["admin", "wh-shanghai"]
    out = StringIO()
    call_command("demo_data", "--orders", "6", stdout=out)
    assert "orders created: 0, orders in database: 6" in out.getvalue()
    printed = StringIO()
    call_command("demo_data", "--print-logins", stdout=printed)
    assert printed.getvalue() == (
        f"login: admin / {stored['admin']}\nlogin: wh-shanghai / {stored['wh-shanghai']}\n"
    )
    # The passwords were kept, and they work.
    assert dict(line.split(" ", 1) for line in path.read_text().splitlines()) == stored
    assert Client().login(username="wh-shanghai", password=stored["wh-shanghai"])


@pytest.mark.django_db
def test_the_demo_seed_is_healthy_it_opens_no_anomaly() -> None:
    """The demo's anomalies are the sandbox's injected faults, not artefacts of the seed:
    open orders are recent enough for their ship-by, scan and tracking windows, shipped
    orders have the courier's scans, every product has a valid HS code."""
    from health.models import Anomaly
    from health.services import anomalies_sweep

    now = timezone.now()
    summary = demo_load(orders=300, now=now)
    assert summary.orders_created == 300
    assert list(Anomaly.objects.values_list("kind", flat=True)) == []
    # The sweeps beat runs in the next minutes find nothing either.
    anomalies_sweep(now=now + timedelta(minutes=5), limit=1000)
    assert Anomaly.objects.count() == 0
    assert Order.objects.filter(status="collected").exclude(tracking_events=None).count() > 0
