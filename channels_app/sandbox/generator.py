"""Seeded generator of realistic orders and, per channel kind, the status story of each."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from channels_app.adapters.common import CHINA_TZ
from orderhub.choices import Milestone, OrderType

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
