"""Seeded generator of realistic orders and, per channel kind, the status story of each."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from channels_app.adapters.common import CHINA_TZ
from orderhub.choices import FORWARD_PATH, Milestone, OrderType

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "晓东",
    "丽华",
    "志强",
]
PLACES = [
    ("浙江省", "杭州市", "西湖区", "310012"),
    ("广东省", "深圳市", "南山区", "518057"),
    ("上海市", "上海市", "浦东新区", "200120"),
    ("北京市", "北京市", "朝阳区", "100020"),
    ("四川省", "成都市", "武侯区", "610041"),
    ("江苏省", "南京市", "鼓楼区", "210008"),
    ("湖北省", "武汉市", "洪山区", "430070"),
    ("陕西省", "西安市", "雁塔区", "710061"),
    ("山东省", "青岛市", "市南区", "266001"),
    ("福建省", "厦门市", "思明区", "361001"),
]
STREETS = [
    "文三路",
    "科技园南路",
    "世纪大道",
    "建国路",
    "人民南路",
    "中山北路",
    "珞喻路",
    "长安南路",
    "香港中路",
    "湖滨南路",
]
FOREIGN = [
    ("US", "California", "San Francisco", "94103", "Market Street"),
    ("DE", "Berlin", "Berlin", "10115", "Invalidenstraße"),
    ("JP", "Tokyo", "Shibuya", "150-0002", "Shibuya 2-chome"),
    ("GB", "England", "London", "SW1A 1AA", "Whitehall"),
    ("SG", "Singapore", "Singapore", "018989", "Marina Boulevard"),
]
FOREIGN_NAMES = [
    ("Emma", "Schulz"),
    ("Liam", "Smith"),
    ("Yuki", "Tanaka"),
    ("Olivia", "Brown"),
    ("Noah", "Tan"),
]
CATALOGUE = [
    ("TEA-LJ-250", "西湖龙井 250g", Decimal("59.00")),
    ("TEA-PE-357", "普洱茶饼 357g", Decimal("128.00")),
    ("MUG-CER-01", "陶瓷马克杯", Decimal("35.50")),
    ("CUP-GLS-02", "玻璃茶杯", Decimal("22.90")),
    ("SILK-SCF-1", "真丝围巾", Decimal("199.00")),
    ("FAN-BMB-01", "竹扇", Decimal("18.80")),
    ("PEN-BRS-05", "毛笔套装", Decimal("86.00")),
    ("BAG-CAN-03", "帆布袋", Decimal("29.00")),
    ("LAMP-LED-9", "LED 台灯", Decimal("149.00")),
    ("CASE-PH-14", "手机壳", Decimal("39.90")),
]

# The steps each kind's story is told in, and the milestone the last step leaves the order at
# (with the shipped default mappings). Stories never move backwards under reordering: a late
# fact is recorded but cannot drag the order back, so the final status does not depend on the
# delivery order.
SHIPPED_PATH = ("placed", "paid", "shipped", "delivered")
CANCEL_PATH = ("placed", "cancelled")
FINAL = {
    "shopify": {
        "placed": Milestone.PLACED,
        "paid": Milestone.PAID,
        "shipped": Milestone.COLLECTED,
        "delivered": Milestone.DELIVERED,
        "cancelled": Milestone.CANCELLED,
    },
    "woocommerce": {
        "placed": Milestone.PLACED,
        "paid": Milestone.PAID,
        "shipped": Milestone.HANDED_OVER,
        "cancelled": Milestone.CANCELLED,
    },
    "douyin": {
        "placed": Milestone.PLACED,
        "paid": Milestone.PAID,
        "shipped": Milestone.HANDED_OVER,
        "delivered": Milestone.DELIVERED,
        "cancelled": Milestone.CANCELLED,
    },
    "youzan": {
        "placed": Milestone.PLACED,
        "paid": Milestone.PAID,
        "shipped": Milestone.HANDED_OVER,
        "delivered": Milestone.DELIVERED,
        "cancelled": Milestone.CANCELLED,
    },
    "wechat_pay": {"paid": Milestone.PAID},
    # finish:agree is left unmapped by default, so an approved instance stays placed.
    "dingtalk": {
        "placed": Milestone.PLACED,
        "approved": Milestone.PLACED,
        "cancelled": Milestone.CANCELLED,
    },
    "webform": {
        "placed": Milestone.PLACED,
        "paid": Milestone.PAID,
        "shipped": Milestone.HANDED_OVER,
        "delivered": Milestone.DELIVERED,
        "cancelled": Milestone.CANCELLED,
    },
}
PUSH_KINDS = tuple(FINAL)


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class SandboxOrder:
    """One generated order, independent of any platform's wire format."""

    kind: str
    number: int
    external_id: str
    buyer_name: str
    first_name: str
    last_name: str
    phone: str
    email: str
    country: str
    province: str
    city: str
    district: str
    street: str
    postal_code: str
    currency: str
    order_type: str
    lines: tuple[Line, ...]
    shipping: Decimal
    discount: Decimal
    placed_at: datetime
    steps: tuple[str, ...]
    step_times: tuple[datetime, ...]
    tracking_number: str
    # The sandbox run that generated it (engine.RunConfig.run): part of every delivery id.
    run: int = 0

    @property
    def goods(self) -> Decimal:
        return sum((line.amount for line in self.lines), start=Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.goods + self.shipping - self.discount

    @property
    def final_milestone(self) -> str:
        return FINAL[self.kind][self.steps[-1]]


def _steps(kind: str, rng: random.Random) -> tuple[str, ...]:
    if kind == "wechat_pay":
        return ("paid",)
    if kind == "dingtalk":
        return ("placed", rng.choice(["approved", "approved", "cancelled"]))
    if rng.random() < 0.12:
        return CANCEL_PATH
    path = SHIPPED_PATH if "delivered" in FINAL[kind] else SHIPPED_PATH[:3]
    return path[: rng.choice([1, 2, 2, 3, 3, 4, 4, 4])] or path[:1]


def generate_order(
    kind: str, number: int, rng: random.Random, now: datetime, *, run: int = 0
) -> SandboxOrder:
    """A realistic order for ``kind`` (same seed, number and run → same order)."""
    foreign = (kind in ("shopify", "woocommerce") and rng.random() < 0.6) or rng.random() < 0.05
    if foreign:
        country, province, city, postal, street = rng.choice(FOREIGN)
        first, last = rng.choice(FOREIGN_NAMES)
        name, district = f"{first} {last}", ""
        street = f"{rng.randint(1, 300)} {street}"
        phone = f"+1{rng.randint(2000000000, 9999999999)}"
        currency = rng.choice(["USD", "EUR"]) if kind in ("shopify", "woocommerce") else "CNY"
    else:
        province, city, district, postal = rng.choice(PLACES)
        country = "CN"
        last, first = rng.choice(SURNAMES), rng.choice(GIVEN)
        name = last + first
        building, room = rng.randint(1, 30), rng.randint(101, 2405)
        street = f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{building}栋{room}室"
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"
        currency = "CNY"
    picks = rng.sample(CATALOGUE, rng.randint(1, 4))
    lines = tuple(Line(sku, title, rng.randint(1, 3), price) for sku, title, price in picks)
    order_type = (
        OrderType.CROSS_BORDER
        if foreign and country != "CN" and kind not in ("shopify", "woocommerce")
        else rng.choices([OrderType.NORMAL, OrderType.CUSTOM, OrderType.PRESALE], [8, 1, 1])[0]
    )
    steps = _steps(kind, rng)
    placed_at = (now - timedelta(minutes=rng.randint(30, 600))).replace(microsecond=0)
    times = [placed_at]
    for _step in steps[1:]:
        times.append(times[-1] + timedelta(minutes=rng.randint(1, 25), seconds=rng.randint(0, 59)))
    prefix = {
        "shopify": "",
        "woocommerce": "",
        "douyin": "69",
        "youzan": "E2025",
        "wechat_pay": "MP",
        "dingtalk": "",
        "webform": "W",
    }[kind]
    serial = rng.randint(10**9, 10**10 - 1)
    external_id = (
        f"{rng.getrandbits(32):08x}-{number:04x}-4a1b-8c2d-{rng.getrandbits(48):012x}"
        if kind == "dingtalk"
        else f"{prefix}{serial}{number:06d}"
    )
    return SandboxOrder(
        kind=kind,
        number=number,
        external_id=external_id,
        buyer_name=name,
        first_name=first,
        last_name=last,
        phone=phone,
        email=f"buyer{number}@example.com",
        country=country,
        province=province,
        city=city,
        district=district,
        street=street,
        postal_code=postal,
        currency=currency,
        order_type=order_type,
        lines=lines,
        shipping=Decimal(rng.choice(["0.00", "8.00", "10.00", "12.00", "25.00"])),
        discount=Decimal(rng.choice(["0.00", "0.00", "5.00", "10.00"])),
        placed_at=placed_at.astimezone(CHINA_TZ),
        steps=steps,
        step_times=tuple(t.astimezone(CHINA_TZ) for t in times),
        tracking_number=f"SF{rng.randint(10**11, 10**12 - 1)}",
        run=run,
    )


# --- the other systems: couriers, the warehouse's WMS, the ERP -------------------------------

COURIER_KINDS = ("kuaidi100", "track17", "aftership")
# What a courier reports, in order; the milestone each reaches with the shipped defaults
# (in transit = the carrier's first scan = collected; signed = delivered).
COURIER_STAGES = ("info_received", "collected", "in_transit", "out_for_delivery", "delivered")
COURIER_MILESTONES = {
    "collected": Milestone.COLLECTED,
    "in_transit": Milestone.COLLECTED,
    "out_for_delivery": Milestone.COLLECTED,
    "delivered": Milestone.DELIVERED,
}
COURIER_PLACES = ("杭州市", "上海市", "广州市", "成都市", "武汉市", "北京市")
# WMS and ERP words (the shipped default mappings) and the milestone each stands for.
WMS_MILESTONES = {
    "ACCEPTED": Milestone.WAREHOUSE_ACCEPTED,
    "PICKED": Milestone.WAREHOUSE_ACCEPTED,
    "PACKED": Milestone.PICKED_PACKED,
    "LABELED": Milestone.WAYBILL_ISSUED,
    "SHIPPED": Milestone.HANDED_OVER,
}
ERP_MILESTONES = {"APPROVED": Milestone.STOCK_LOCKED, "SHIPPED": Milestone.HANDED_OVER}
# Kinds whose orders the merchant's warehouse fulfils (a payment notice or an approval is not
# an order the WMS ships).
FULFILLED_KINDS = ("shopify", "woocommerce", "douyin", "youzan", "webform")
CARRIER = {"kuaidi100": "shunfeng", "track17": 100012, "aftership": "sf-express"}
SYSTEM_CARRIER = "SF"


@dataclass(frozen=True, slots=True)
class CourierEvent:
    stage: str  # one of COURIER_STAGES
    at: datetime
    place: str


@dataclass(frozen=True, slots=True)
class SystemFact:
    system: str  # "wms" or "erp"
    raw_status: str
    at: datetime
    with_tracking: bool
    # A waybill other than the order's own (a second label: the second_waybill fault).
    tracking_number: str = ""


def courier_events(order: SandboxOrder, rng: random.Random) -> tuple[CourierEvent, ...]:
    """The courier's scans of a shipped order's waybill, oldest first (none if not shipped):
    up to the signature when the channel says delivered, else up to in transit."""
    if "shipped" not in order.steps:
        return ()
    shipped_at = order.step_times[order.steps.index("shipped")]
    delivered = "delivered" in order.steps
    stages = COURIER_STAGES if delivered else COURIER_STAGES[: rng.choice([2, 3, 3])]
    # The label is known at once and the courier scans the parcel when the warehouse hands
    # it over (the WMS ships a minute before the channel is told): the first scan is within
    # three minutes of the WMS's ship time, as on a healthy day (clock_mismatch stays quiet).
    collected = shipped_at + timedelta(seconds=rng.randint(20, 100))
    times = [shipped_at + timedelta(seconds=5), collected]
    if delivered:
        end = order.step_times[order.steps.index("delivered")]
        span = max((end - collected).total_seconds(), 60.0)
        rest = len(stages) - 2
        times += [collected + timedelta(seconds=int(span * (i + 1) / rest)) for i in range(rest)]
    else:
        at = collected
        for _stage in stages[2:]:
            at += timedelta(minutes=rng.randint(5, 40), seconds=rng.randint(0, 59))
            times.append(at)
    places = [rng.choice(COURIER_PLACES) for _stage in stages]
    if delivered:
        places[-1] = order.city
    return tuple(
        CourierEvent(stage, at.astimezone(CHINA_TZ), place)
        for stage, at, place in zip(stages, times, places, strict=True)
    )


def courier_kind_of(order: SandboxOrder) -> str:
    """The tracking provider that follows this order's waybill (spread by order number)."""
    return COURIER_KINDS[order.number % len(COURIER_KINDS)]


def system_facts(order: SandboxOrder) -> tuple[SystemFact, ...]:
    """What the WMS and the ERP report for a paid order, oldest first: the ERP approves it,
    the WMS accepts and picks it; once shipped, the WMS packs, labels and ships it (with the
    carrier and tracking number) and the ERP books the shipment."""
    if order.kind not in FULFILLED_KINDS or "paid" not in order.steps:
        return ()
    paid_at = order.step_times[order.steps.index("paid")]
    facts = [
        SystemFact("erp", "APPROVED", paid_at + timedelta(seconds=30), False),
        SystemFact("wms", "ACCEPTED", paid_at + timedelta(seconds=45), False),
    ]
    if "shipped" not in order.steps:
        return (*facts, SystemFact("wms", "PICKED", paid_at + timedelta(seconds=90), False))
    shipped_at = order.step_times[order.steps.index("shipped")]
    step = (shipped_at - paid_at) / 5
    facts += [
        SystemFact("wms", "PICKED", paid_at + step, False),
        SystemFact("wms", "PACKED", paid_at + step * 2, False),
        SystemFact("wms", "LABELED", paid_at + step * 3, True),
        SystemFact("wms", "SHIPPED", shipped_at - min(step, timedelta(seconds=60)), True),
        SystemFact("erp", "SHIPPED", shipped_at, True),
    ]
    return tuple(facts)


def final_with_systems(
    order: SandboxOrder,
    courier_stages: tuple[str, ...],
    *,
    with_systems: bool,
    facts: tuple[SystemFact, ...] | None = None,
) -> str:
    """The order's final milestone once the WMS, ERP and courier have reported too: the
    furthest forward milestone anyone reports (facts never move an order backwards).
    ``facts``: the system facts sent (default: ``system_facts(order)``)."""
    final = order.final_milestone
    if final == Milestone.CANCELLED:
        return final
    if not with_systems:
        facts = ()
    elif facts is None:
        facts = system_facts(order)
    reached = [final, *(WMS_MILESTONES.get(f.raw_status) for f in facts)]
    reached += [
        COURIER_MILESTONES[stage] for stage in courier_stages if stage in COURIER_MILESTONES
    ]
    return max((m for m in reached if m), key=FORWARD_PATH.index)


def warehouse_assortments(codes: list[str]) -> list[tuple[str, frozenset[str]]]:
    """Which catalogue SKUs each sandbox warehouse stocks (by code): every warehouse but the
    last holds a rotating seven of the ten, the last holds all, so orders spread over them."""
    codes = sorted(codes)
    skus = [sku for sku, _title, _price in CATALOGUE]
    result = []
    for index, code in enumerate(codes):
        if index == len(codes) - 1:
            held = frozenset(skus)
        else:
            held = frozenset(sku for j, sku in enumerate(skus) if (j + index * 3) % len(skus) < 7)
        result.append((code, held))
    return result


def warehouse_of(order: SandboxOrder, assortments: list[tuple[str, frozenset[str]]]) -> str:
    """The warehouse OrderHub reserves the order's lines in: the first (by code) that stocks
    every line (the sandbox's WMSs report ample stock of what they hold)."""
    wanted = {line.sku for line in order.lines}
    for code, held in assortments:
        if wanted <= held:
            return code
    return assortments[-1][0] if assortments else ""
