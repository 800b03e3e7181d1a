"""Demo data: warehouses, SKUs, customers and a few hundred *seed* orders in every milestone.

This is the seed only. Seed orders are created in-process through the same services as real
traffic (``order_upsert`` with status facts), so their history, facts and ledger look like
real ones, but nothing here arrived through an interface: the facts that stand for the
warehouse, the ERP and the courier are labelled as seed systems (``seed:wms:WH-SH``,
``seed:erp:k3``, ``seed:courier:kuaidi100``) so they are never mistaken for received ones.
What the WMS, ERP and couriers report live comes from ``manage.py sandbox`` (part of
``make demo``): Kuaidi100, 17TRACK and AfterShip pushes through ``/hooks/<code>/`` and a WMS
per warehouse and an ERP through ``/api/v1/facts/`` and ``/api/v1/stock/``.

Deterministic for a given seed: order ids come from the seed and a per-channel counter, never
from the clock (times are relative to ``now``), so a run on any later day finds the orders of
the first one and adds none.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orderhub.choices import FORWARD_PATH, Milestone, OrderType, Priority, TrackingStage
from orderhub.domain import (
    NormalizedLine,
    NormalizedOrder,
    NormalizedTracking,
    StatusFactIn,
    TrackingEventIn,
)
from orderhub.models import Order, Product, Warehouse
from orderhub.services import order_upsert, order_warehouse_assign
from orderhub.services.tracking import tracking_record_locked
from orderhub.services.work import OrderWork

WAREHOUSES = [
    ("WH-SH", "上海嘉定仓", "上海市", "上海市"),
    ("WH-GZ", "广州白云仓", "广东省", "广州市"),
    ("WH-CD", "成都双流仓", "四川省", "成都市"),
    ("WH-TJ", "天津武清仓", "天津市", "天津市"),
    ("WH-HZ", "杭州萧山保税仓", "浙江省", "杭州市"),
]
PRODUCTS = [
    ("TS-001", "纯棉短袖T恤", "服装", "6109100021", "79.00", 220),
    ("TS-002", "速干运动T恤", "服装", "6109909021", "99.00", 180),
    ("JK-010", "轻薄羽绒服", "服装", "6201400000", "499.00", 650),
    ("SH-020", "缓震跑鞋", "鞋靴", "6404110090", "389.00", 900),
    ("BG-030", "双肩电脑包", "箱包", "4202920000", "259.00", 800),
    ("CF-040", "云南小粒咖啡豆 500g", "食品", "0901210000", "88.00", 520),
    ("TE-041", "西湖龙井 250g", "食品", "0902109000", "268.00", 300),
    ("SK-050", "保湿面霜 50ml", "美妆", "3304990099", "199.00", 120),
    ("EL-060", "蓝牙耳机", "数码", "8518300000", "299.00", 150),
    ("EL-061", "65W 氮化镓充电器", "数码", "8504401400", "149.00", 110),
    ("HM-070", "真丝枕套", "家居", "6302299000", "159.00", 200),
    ("TY-080", "益智积木 300 片", "玩具", "9503008900", "129.00", 700),
]
# Also in the catalogue, not in seed orders: what ``manage.py sandbox`` sells, so its
# cross-border orders have HS codes. Two are there for its faults: the sold-out tea
# (stock_shortage) and the gift box whose code is a catalogue error (bad_hs_code).
SANDBOX_PRODUCTS = [
    ("TEA-LJ-250", "西湖龙井 250g", "食品", "0902109000", "59.00", 260),
    ("TEA-PE-357", "普洱茶饼 357g", "食品", "0902300000", "128.00", 380),
    ("MUG-CER-01", "陶瓷马克杯", "家居", "6911101900", "35.50", 350),
    ("CUP-GLS-02", "玻璃茶杯", "家居", "7013370000", "22.90", 200),
    ("SILK-SCF-1", "真丝围巾", "服装", "6214100000", "199.00", 80),
    ("FAN-BMB-01", "竹扇", "家居", "4602919000", "18.80", 90),
    ("PEN-BRS-05", "毛笔套装", "文具", "9603300000", "86.00", 300),
    ("BAG-CAN-03", "帆布袋", "箱包", "4202920000", "29.00", 150),
    ("LAMP-LED-9", "LED 台灯", "数码", "9405210000", "149.00", 900),
    ("CASE-PH-14", "手机壳", "数码", "3926909090", "39.90", 40),
    ("TEA-DHP-050", "武夷大红袍 限量 50g", "食品", "0902300000", "98.00", 80),
    ("TEA-GIFT-01", "龙井礼盒", "食品", "090299", "168.00", 600),
]
CHANNELS = [
    ("douyin-flagship", "douyin", "CNY"),
    ("pdd-store", "pinduoduo", "CNY"),
    ("youzan-mall", "youzan", "CNY"),
    ("wechat-mini", "webform", "CNY"),
    ("shopify-global", "shopify", "USD"),
    ("amazon-us", "amazon", "USD"),
]
# Raw wording per kind of system for each milestone, as those systems would report it.
RAW: dict[str, dict[str, str]] = {
    "channel": {
        Milestone.PLACED: "WAIT_BUYER_PAY",
        Milestone.PAID: "WAIT_SELLER_SEND_GOODS",
        Milestone.HANDED_OVER: "WAIT_BUYER_CONFIRM_GOODS",
        Milestone.DELIVERED: "TRADE_SUCCESS",
        Milestone.CANCELLED: "TRADE_CLOSED",
    },
    "erp": {Milestone.STOCK_LOCKED: "已审核", Milestone.WAYBILL_ISSUED: "已打单"},
    "wms": {
        Milestone.WAREHOUSE_ACCEPTED: "ALLOCATED",
        Milestone.PICKED_PACKED: "PACKED",
        Milestone.HANDED_OVER: "SHIPPED",
    },
}
# The seed courier's scans (a tracking timeline per waybill, as a courier feed reports it):
# the milestone each stands for, its tracking stage and Kuaidi100's words.
SCANS: dict[str, tuple[str, str, str]] = {
    Milestone.COLLECTED: (TrackingStage.IN_TRANSIT, "103", "快件已揽收"),
    Milestone.DELIVERED: (TrackingStage.DELIVERED, "301", "快件已签收"),
}
ADDRESSES = [
    ("浙江省", "杭州市", "西湖区", "文三路 90 号"),
    ("广东省", "深圳市", "南山区", "科技园南区 8 栋"),
    ("北京市", "北京市", "朝阳区", "建国路 88 号"),
    ("上海市", "上海市", "浦东新区", "张江路 500 弄"),
    ("四川省", "成都市", "武侯区", "天府大道 1000 号"),
    ("湖北省", "武汉市", "洪山区", "珞喻路 129 号"),
    ("江苏省", "南京市", "鼓楼区", "中山北路 30 号"),
    ("陕西省", "西安市", "雁塔区", "科技路 48 号"),
    ("山东省", "青岛市", "市南区", "香港中路 76 号"),
    ("福建省", "厦门市", "思明区", "环岛南路 1 号"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷", "强", "霞", "鹏"]
CARRIERS = [("SF", "SF"), ("YTO", "YT"), ("ZTO", "7"), ("JD", "JDV")]
# The system name prefix of the seed's in-process WMS, ERP and courier facts.
SEED_PREFIX = "seed:"


@dataclass(frozen=True)
class DemoSummary:
    warehouses: int
    products: int
    orders_created: int
    orders_total: int


def demo_load(
    *,
    orders: int = 300,
    seed: int = 20261125,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> DemoSummary:
    """Create the demo data set once; a second run (the same day or any later one) adds nothing.

    ``now`` (default: the clock) only places the orders' times; their ids do not depend on it.
    """
    rng = random.Random(seed)
    warehouses = [
        Warehouse.objects.update_or_create(
            code=code, defaults={"name": name, "province": province, "city": city}
        )[0]
        for code, name, province, city in WAREHOUSES
    ]
    for sku, name, category, hs_code, price, weight in PRODUCTS + SANDBOX_PRODUCTS:
        Product.objects.update_or_create(
            sku=sku,
            defaults={
                "name": name, "category": category, "hs_code": hs_code,
                "unit_price": Decimal(price), "weight_grams": weight,
            },
        )  # fmt: skip
    # What a business user maps once: an approved DingTalk instance (left unmapped by the
    # adapter, the meaning is the merchant's) stays placed. Same values again: no write.
    from channels_app.services.mapping import status_mapping_save

    status_mapping_save(
        kind="dingtalk", raw_status="bpms_instance_change:finish:agree",
        milestone=Milestone.PLACED, note="approved: placed until paid", source="demo",
        reason="demo data",
    )  # fmt: skip
    created = 0
    now = now or timezone.now()
    for index, normalized, warehouse_code, scans in _orders(rng, orders, now, seed):
        if not Order.objects.filter(
            channel=normalized.channel, external_id=normalized.external_id
        ).exists():
            if scans:
                # Stored first, like a courier feed that reports before the order names the
                # waybill: the order's creation attaches them (and their facts).
                _scans_store(scans)
            order = order_upsert(normalized=normalized, source="demo")
            if warehouse_code:
                # Stands in for the warehouse allocation that a later capability performs.
                order_warehouse_assign(
                    order_id=order.pk, warehouse_code=warehouse_code, source="demo"
                )
            created += 1
        if progress:
            progress(index)
    return DemoSummary(
        warehouses=len(warehouses),
        products=len(PRODUCTS) + len(SANDBOX_PRODUCTS),
        orders_created=created,
        orders_total=Order.objects.count(),
    )


@transaction.atomic
def _scans_store(scans: tuple[TrackingEventIn, ...]) -> None:
    first = scans[0]
    tracking = NormalizedTracking(first.system, first.carrier, first.tracking_number, scans)
    work = OrderWork()
    tracking_record_locked([tracking], known_orders=(), work=work)
    work.flush()


# Order id prefix per channel kind (Douyin's DY..., Pinduoduo's PD..., ...).
ID_PREFIXES = {
    "douyin": "DY", "pinduoduo": "PD", "youzan": "YZ", "webform": "WX", "shopify": "SH",
    "amazon": "AM",
}  # fmt: skip


def demo_external_id(*, kind: str, seed: int, number: int) -> str:
    """``DY2611250001``: kind prefix, the seed's last six digits, the channel's order number."""
    return f"{ID_PREFIXES[kind]}{seed % 1_000_000:06d}{number:04d}"


def _orders(
    rng: random.Random, count: int, now: datetime, seed: int
) -> Iterator[tuple[int, NormalizedOrder, str, tuple[TrackingEventIn, ...]]]:
    final_statuses = [*FORWARD_PATH, Milestone.CANCELLED, Milestone.RETURNED]
    weights = [6, 10, 6, 2, 6, 6, 6, 8, 14, 24, 6, 3]
    for index in range(count):
        channel, kind, currency = CHANNELS[index % len(CHANNELS)]
        final = rng.choices(final_statuses, weights)[0]
        path = _path(final)
        times = _timeline(rng, final, len(path), now)
        placed_at = times[0] - timedelta(minutes=rng.uniform(1, 30))
        province, city, district, street = rng.choice(ADDRESSES)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN])
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        lines = tuple(
            NormalizedLine(
                line_no=n + 1,
                sku=sku,
                title=title,
                quantity=rng.randint(1, 3),
                unit_price=Decimal(price),
            )
            for n, (sku, title, _c, _h, price, _w) in enumerate(
                rng.sample(PRODUCTS, rng.randint(1, 4))
            )
        )
        goods = sum((line.amount for line in lines), Decimal("0.00"))
        shipping = Decimal("0.00") if goods > 99 else Decimal("8.00")
        warehouse = rng.choice(WAREHOUSES)[0]
        carrier, prefix = rng.choice(CARRIERS)
        order_type = rng.choices(
            [OrderType.NORMAL, OrderType.CUSTOM, OrderType.CROSS_BORDER, OrderType.PRESALE],
            [80, 8, 8, 4],
        )[0]
        facts, reached_warehouse = _facts(kind, channel, warehouse, final, path, times)
        tracking_number = f"{prefix}{rng.randrange(10**12):012d}" if reached_warehouse else None
        scans = tuple(
            TrackingEventIn(
                system=f"{SEED_PREFIX}courier:kuaidi100", carrier=carrier,
                tracking_number=tracking_number, occurred_at=at, stage=SCANS[milestone][0],
                raw_state=SCANS[milestone][1], description=SCANS[milestone][2],
                milestone=milestone,
            )
            for milestone, at in zip(path, times, strict=True)
            if milestone in SCANS and tracking_number
        )  # fmt: skip
        yield (
            index,
            NormalizedOrder(
                channel=channel,
                external_id=demo_external_id(
                    kind=kind, seed=seed, number=index // len(CHANNELS) + 1
                ),
                buyer_name=name,
                buyer_phone=phone,
                receiver_name=name,
                receiver_phone=phone,
                country="CN",
                province=province,
                city=city,
                district=district,
                address=street,
                currency=currency,
                goods_amount=goods,
                shipping_amount=shipping,
                total_amount=goods + shipping,
                order_type=order_type,
                priority=Priority.KEY_ACCOUNT if rng.random() < 0.05 else Priority.NORMAL,
                carrier=carrier if reached_warehouse else None,
                tracking_number=tracking_number,
                placed_at=placed_at,
                ship_by=placed_at + timedelta(hours=48),
                lines=lines,
                facts=tuple(facts),
            ),
            warehouse if reached_warehouse else "",
            scans,
        )


# How long ago an open order's last fact can be and the order stay healthy: not yet handed
# over, its ship-by (48 h after placing) still more than 4 h away; handed over less than a
# day ago (the carrier's scan is due within 24 h); collected with a scan less than two days
# old. Finished orders (delivered, cancelled, returned) may be two weeks old.
_WINDOW: dict[str, timedelta] = {
    Milestone.HANDED_OVER: timedelta(hours=20),
    Milestone.COLLECTED: timedelta(hours=30),
}
_BEFORE_HANDOVER = FORWARD_PATH[: FORWARD_PATH.index(Milestone.HANDED_OVER)]
_FINISHED = timedelta(days=14)


def _path(final: str) -> list[str]:
    """The milestones a seed order went through to ``final``."""
    if final == Milestone.CANCELLED:
        return [Milestone.PLACED, Milestone.PAID, Milestone.CANCELLED]
    if final == Milestone.RETURNED:
        return [m for m in FORWARD_PATH if m != Milestone.AWAITING_CONFIRMATION]
    path = list(FORWARD_PATH[: FORWARD_PATH.index(final) + 1])
    if final != Milestone.AWAITING_CONFIRMATION:
        path = [m for m in path if m != Milestone.AWAITING_CONFIRMATION]
    return path


def _timeline(rng: random.Random, final: str, steps: int, now: datetime) -> list[datetime]:
    """When each of the ``steps`` milestones happened (1 min to 4 h apart), all in the past;
    an open order's story fits its healthy window (``_WINDOW``), so the seed opens no
    anomaly. A returned order's refund comes two days after its last milestone."""
    gaps = [timedelta(minutes=rng.uniform(1, 240)) for _step in range(steps)]
    before = final in _BEFORE_HANDOVER
    window = timedelta(hours=40) if before else _WINDOW.get(final, _FINISHED)
    span = sum(gaps[1:], timedelta())
    if span > window * 0.8:
        gaps = [gap * ((window * 0.8) / span) for gap in gaps]
        span = window * 0.8
    tail = timedelta(days=2) if final == Milestone.RETURNED else timedelta()
    room = max(window - span - tail, timedelta(minutes=10))
    first = now - tail - span - timedelta(seconds=rng.uniform(120, room.total_seconds()))
    times = [first]
    for gap in gaps[1:]:
        times.append(times[-1] + gap)
    return times


def _facts(
    kind: str, channel: str, warehouse: str, final: str, path: list[str], times: list[datetime]
) -> tuple[list[StatusFactIn], bool]:
    # The channel's facts stand for the seed order's own channel; the others are labelled as
    # seed: no WMS, ERP or courier said them (the sandbox's systems report live).
    systems = {
        "channel": f"{kind}:{channel}",
        "erp": f"{SEED_PREFIX}erp:k3",
        "wms": f"{SEED_PREFIX}wms:{warehouse}",
        "courier": f"{SEED_PREFIX}courier:kuaidi100",
    }
    facts: list[StatusFactIn] = []
    at = times[0]
    for milestone, at in zip(path, times, strict=True):
        for source, words in RAW.items():
            if milestone in words:
                facts.append(
                    StatusFactIn(
                        system=systems[source],
                        raw_status=words[milestone],
                        milestone=milestone,
                        occurred_at=at,
                    )
                )
        if milestone == Milestone.AWAITING_CONFIRMATION:
            facts.append(StatusFactIn(systems["channel"], "WAIT_CONFIRM", milestone, at))
    if final == Milestone.RETURNED:
        at += timedelta(days=2)
        facts.append(StatusFactIn(systems["channel"], "REFUND_SUCCESS", Milestone.RETURNED, at))
    # (Unmapped statuses, like every other gap, come from the sandbox's faults, not the seed.)
    reached = (
        FORWARD_PATH.index(path[-2 if final == Milestone.RETURNED else -1])
        >= (FORWARD_PATH.index(Milestone.WAREHOUSE_ACCEPTED))
        if final != Milestone.CANCELLED
        else False
    )
    return facts, reached
